# Container workflow for dynamod. The Go workflow needs no make: go build,
# go test ./... (see README.md).
#
#   make docker        build the image dynamod:dev (static binary, FROM scratch)
#   make up            start the 3-node cluster of deploy/docker-compose.yml
#   make up5           start the 5-node variant (adds docker-compose.5nodes.yml)
#   make up-secure     the 3-node cluster with client TLS and tokens (adds docker-compose.secure.yml)
#   make demo          the narrated partition / siblings / kill tour (cluster up first)
#   make status        dynamod status as n1 sees it
#   make logs          follow the nodes' logs
#   make down          stop the cluster and delete its volumes
#   make compose-e2e   the Docker Compose end-to-end suite (what CI runs)

IMAGE   ?= dynamod:dev
PROJECT ?= dynamod
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
FILES3  := -f deploy/docker-compose.yml
FILES5  := $(FILES3) -f deploy/docker-compose.5nodes.yml

export DYNAMOD_IMAGE := $(IMAGE)

# files: the compose files of the running cluster (the 5-node override when n4 exists).
files = $$(if [ -n "$$(docker ps -aq --filter label=com.docker.compose.project=$(PROJECT) \
	--filter label=com.docker.compose.service=n4)" ]; then echo "$(FILES5)"; else echo "$(FILES3)"; fi)

.PHONY: docker up up5 up-secure demo status logs down compose-e2e

docker:
	scripts/docker-build.sh $(IMAGE)

up:
	$(COMPOSE) -p $(PROJECT) $(FILES3) up -d

up5:
	$(COMPOSE) -p $(PROJECT) $(FILES5) up -d

up-secure:
	$(COMPOSE) -p $(PROJECT) $(FILES3) -f deploy/docker-compose.secure.yml up -d

demo:
	DYNAMOD_COMPOSE_PROJECT=$(PROJECT) scripts/demo.sh

status:
	docker exec $$(docker ps -q --filter label=com.docker.compose.project=$(PROJECT) --filter label=com.docker.compose.service=n1) /dynamod status

logs:
	$(COMPOSE) -p $(PROJECT) $(files) logs -f --tail=50

down:
	$(COMPOSE) -p $(PROJECT) $(files) down -v --remove-orphans

compose-e2e:
	scripts/compose-e2e.sh
