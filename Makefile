# cubelet — see README.md. Every target works on a fresh machine with Go and
# root: Docker is installed and started by hack/ensure-docker.sh if needed.

GO        ?= go
BIN       ?= bin/cubelet
DATA_DIR  ?= _output/data
IMAGE     ?= cubelet-workload:latest
GOTEST    ?= $(GO) test -race -count=1 -timeout 30m
FUZZTIME  ?= 10s

.PHONY: all build run test unit e2e fuzz bench verify codegen image docker soak clean

all: build

build:
	$(GO) build -o $(BIN) .

## run: cubelet on the embedded store against the local Docker daemon, its
## API on the default socket /run/cubelet/cubelet.sock (SERVE_FLAGS for more).
run: docker image build
	./$(BIN) serve --data-dir $(DATA_DIR) $(SERVE_FLAGS)

## test: every test (unit and end-to-end against real Docker) plus a short fuzz run.
test: docker image
	$(GOTEST) ./...
	$(MAKE) fuzz

## unit: the fast tests that need no Docker.
unit:
	$(GOTEST) $$($(GO) list ./... | grep -v -e /e2e -e /runtime$$)

e2e: docker image
	$(GOTEST) -v ./e2e/

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTask$$' -fuzztime $(FUZZTIME) ./handlers/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTaskEvent$$' -fuzztime $(FUZZTIME) ./handlers/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateTask$$' -fuzztime $(FUZZTIME) ./apis/v1/

## soak: the long reliability variants (kill -9 over 100 tasks in 5 rounds, ...)
## and a minute of fuzzing per target. See docs/reliability.md.
soak: docker image
	CUBELET_SOAK=1 $(GOTEST) -v -run 'TestE2E_(Crash|EventStreamCut|Tampering|SIGTERMDuringHeavyReconcile|Security)' ./e2e/
	$(MAKE) fuzz FUZZTIME=60s

bench: docker image
	bash hack/bench.sh

verify:
	bash hack/verify.sh

codegen:
	bash hack/update-codegen.sh

image:
	bash hack/build-test-image.sh $(IMAGE)

docker:
	bash hack/ensure-docker.sh

clean:
	rm -rf bin _output
