# t2web — the two commands a newcomer needs are `make serve` and `make test`.

GO ?= go
# The oracle fixtures live beside the repository (../shared/fixtures) when present;
# tests that need them skip with a message otherwise.
T2_FIXTURES ?= $(if $(wildcard ../shared/fixtures/README.md),$(abspath ../shared/fixtures),)
export T2_FIXTURES
ADDR ?= 127.0.0.1:8080
# Debian packages the tests need: a browser with WebGPU for the page tests, and the
# Vulkan loader with Mesa's lavapipe for the native GPU tests.
APT_PACKAGES := chromium mesa-vulkan-drivers libvulkan1
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: serve site test deps vet fmt-check t2 bench generate

## serve: build the wasm and the site into dist/ and serve it on http://$(ADDR)
serve: site
	$(GO) run ./build serve --dir dist --addr $(ADDR)

## site: build the static site into dist/
site:
	$(GO) run ./build site --out dist

## test: every test — Go unit tests, fixtures, the page in headless Chromium
test: deps fmt-check vet
	$(GO) test -count=1 -timeout 25m ./...

## deps: install the Debian packages the tests need, when missing
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./web/... ./shaders/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## t2: install the t2 command into $(GOPATH)/bin
t2:
	$(GO) build -o "$$($(GO) env GOPATH)/bin/t2" ./build

## bench: CPU engine benchmarks (decode and prefill tokens/s), natively and in the page
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x ./model/...
	$(GO) test -run '^$$' -bench . -benchtime 1x ./build/ ./svf/
	$(GO) test -run '^$$' -bench . ./shaders/

## generate: regenerate the Vugu components' Go code
generate:
	GOOS=js GOARCH=wasm $(GO) generate ./web

# The demo: a base model trained here on the task suite (P1·5). `make demo` rebuilds it from
# scratch; demo-base resumes from demo/base.ckpt when a run was interrupted.
.PHONY: demo demo-base

## demo-base: train the demo's base model into demo/base (about 40 minutes on 2 idle cores,
## more on a shared machine; if the 120-minute guard stops it, run it again to continue)
demo-base:
	GOEXPERIMENT=simd $(GO) run ./build train-base --out demo/base --steps 5000 --seed 1 --checkpoint demo/base.ckpt --minutes 120

## demo: rebuild the demo from scratch
demo: demo-base
