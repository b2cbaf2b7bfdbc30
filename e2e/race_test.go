//go:build race

package e2e

// raceEnabled: the tests run under -race, and so does the binary they
// start (TestMain), so the server code under the real-process tests is
// race-checked too.
const raceEnabled = true
