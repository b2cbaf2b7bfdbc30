package clustertest_test

import "github.com/dynamod/dynamod/ring"

func ringHash(bucket, key string) uint64 { return ring.Hash(bucket, key) }
