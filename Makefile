# t2web — the two commands a newcomer needs are `make serve` and `make test`.

GO ?= go
# The oracle fixtures live beside the repository (../shared/fixtures) when present;
# tests that need them skip with a message otherwise (fail under T2_REQUIRE=1, which
# .ci/run sets: see internal/need).
T2_FIXTURES ?= $(if $(wildcard ../shared/fixtures/README.md),$(abspath ../shared/fixtures),)
export T2_FIXTURES
ADDR ?= 127.0.0.1:8080
# Debian packages the tests need: a browser with WebGPU for the page tests, and the
# Vulkan loader with Mesa's lavapipe for the native GPU tests.
APT_PACKAGES := chromium mesa-vulkan-drivers libvulkan1
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: serve site test deps vet fmt-check t2 bench generate peers peers-native bench-peers fuzz

## serve: build the wasm and the site into dist/ and serve it on http://$(ADDR)
serve: site
	$(GO) run ./build serve --dir dist --addr $(ADDR)

## site: build the static site into dist/ (PACK=DIR: the page's default model is that
## pack instead of the demo's)
site:
	$(GO) run ./build site --out dist $(if $(PACK),--pack $(PACK))

## test: every test — Go unit tests, fixtures, the page in headless Chromium. Packages run
## one at a time: the page's long-task check (no main-thread task over 100 ms) times
## Chromium's main thread, which the GPU kernel tests on lavapipe would otherwise starve.
test: deps peers fmt-check vet
	$(GO) test -p 1 -count=1 -timeout 25m ./...
	@# Training's SIMD kernels (model/train/vector.go), which trained the committed demo,
	@# build only with the experiment on.
	GOEXPERIMENT=simd $(GO) test -count=1 ./model/train/...

## peers: install the peers of bench-peers (wllama) from npm into build/peers/node_modules,
## when npm is there; the GGUF interop test (TestE2EWllama) skips without them.
peers:
	@if command -v npm >/dev/null; then cd build/peers && npm install --no-audit --no-fund --loglevel=error; \
	else echo "npm is missing: the wllama tests skip"; fi

## peers-native: install the native peer of bench-peers (node-llama-cpp, llama.cpp's
## prebuilt CPU build) from npm into build/peers-native/node_modules
peers-native:
	cd build/peers-native && npm install --no-audit --no-fund --loglevel=error

## bench-peers: this page's CPU engine beside wllama in the same Chromium, and the native
## engine (AVX2 kernels) beside llama.cpp, on the same weights (not part of make test;
## about 25 minutes)
bench-peers: deps peers peers-native
	$(GO) test -run '^$$' -bench Peers -benchtime 1x -timeout 60m -v ./build/

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
	$(GO) test -run '^$$' -bench . -benchtime 1x ./build/ ./svf/ ./svf/convert/
	$(GO) test -run '^$$' -bench . ./shaders/

## fuzz: run every fuzz target (go test -fuzz) for FUZZTIME each, one after another; a
## crasher stops the run, saved under the package's testdata/fuzz/ (commit it with its fix)
FUZZTIME ?= 10m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f for $(FUZZTIME)"; \
	    out=$$($(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) 2>&1); rc=$$?; \
	    if [ $$rc -ne 0 ]; then echo "$$out"; exit 1; fi; echo "$$out" | grep 'execs:' | tail -1; \
	  done; \
	done

## generate: regenerate the Vugu components' Go code
generate:
	GOOS=js GOARCH=wasm $(GO) generate ./web

# The demo: a base model trained here on a general mix of families (tasks.General), its
# pack and four experts, all committed. `make demo` rebuilds them from scratch (about 2½
# hours on 2 idle cores); demo-base keeps each finished stage in demo/stages and resumes
# an interrupted one from its checkpoint.
.PHONY: demo demo-base demo-pack results
T2SIMD := GOEXPERIMENT=simd $(GO) run ./build
# Plain int8 factors flip tokens of this small model's long worked answers: the 48
# largest singular directions of every matrix and the embedding and lm_head stay f32.
DEMO_PRECISION := --exact-rank 48 --f32 model.embed_tokens.weight,lm_head.weight
# The math, reasoning and cls experts learn the next-token loss of their domain's worked
# solutions (the paper's ablation), math and reasoning for 100 iterations, then 200 more on
# other questions (seed 2) from the first; the code expert learns by REINFORCE, which beat
# the next-token loss on validation for code (demo/MODEL_CARD.md says why). Every stage
# keeps its best validation iterate.
DEMO_EXPERT := --objective ce --batch 32 --micro 16 --lr 1e-2 --val-every 25 --val-n 100 --seq-len 128
DEMO_RL := --objective reinforce --baseline --temperature 0.7 --batch 32 --micro 16 --lr 2e-3 --val-every 20 --val-n 200 --seq-len 128 --max-tokens 60

# The base is trained in stages (demo/MODEL_CARD.md says why): random weights with the BPE
# learnt on the general mix (one step at lr 1e-9 writes them); 3,000 steps of picking alone
# (it came only from near-random weights, after 2,750 of them); then 8,000 steps of the
# general mix with picking and ordering weighted up (DEMO_MIX), at a learning rate low
# enough to keep picking.
DEMO_STAGES := demo/stages
DEMO_MIX := arith:3,word-ops:1.5,if-then:1.5,assign:1.5,one-line:1.5,cond:1,order:3,pick:5,yes-no:1,choose:1,cls-general:1,reverse:0.5,sort:0.5,count:0.5
DEMO_BASE := --batch 16 --seq 128 --minutes 400

## demo-base: train the demo's base model into demo/base (about 100 minutes on 2 idle cores,
## more on a shared machine; if the guard stops it, run it again to continue)
demo-base: $(DEMO_STAGES)/general1/model.safetensors
	$(T2SIMD) train-base --from $(DEMO_STAGES)/general1 --out demo/base --mix $(DEMO_MIX) --steps 4000 --lr 1e-3 --warmup 100 --pool 8000 --seed 2 --eval-n 100 $(DEMO_BASE) --checkpoint demo/base.ckpt

$(DEMO_STAGES)/init/model.safetensors:
	$(T2SIMD) train-base --out $(DEMO_STAGES)/init --steps 1 --batch 1 --seq 128 --lr 1e-9 --warmup 1 --pool 8000 --seed 1 --eval-n 0

$(DEMO_STAGES)/pick1/model.safetensors: $(DEMO_STAGES)/init/model.safetensors
	$(T2SIMD) train-base --from $(DEMO_STAGES)/init --out $(DEMO_STAGES)/pick1 --mix pick --steps 1500 --lr 3e-3 --warmup 200 --pool 20000 --seed 4 --eval-n 100 $(DEMO_BASE) --checkpoint $(DEMO_STAGES)/pick1.ckpt

$(DEMO_STAGES)/pick2/model.safetensors: $(DEMO_STAGES)/pick1/model.safetensors
	$(T2SIMD) train-base --from $(DEMO_STAGES)/pick1 --out $(DEMO_STAGES)/pick2 --mix pick --steps 1500 --lr 3e-3 --warmup 50 --pool 20000 --seed 5 --eval-n 100 $(DEMO_BASE) --checkpoint $(DEMO_STAGES)/pick2.ckpt

$(DEMO_STAGES)/general1/model.safetensors: $(DEMO_STAGES)/pick2/model.safetensors
	$(T2SIMD) train-base --from $(DEMO_STAGES)/pick2 --out $(DEMO_STAGES)/general1 --mix $(DEMO_MIX) --steps 4000 --lr 1e-3 --warmup 500 --pool 8000 --seed 1 --eval-n 100 $(DEMO_BASE) --checkpoint $(DEMO_STAGES)/general1.ckpt

## demo-pack: decompose demo/base into the pack demo/pack and train its experts
demo-pack:
	rm -rf demo/pack
	$(GO) run ./build convert --model demo/base --out demo/pack --targets mlp,attn $(DEMO_PRECISION)
	for t in math reasoning; do \
	  $(T2SIMD) train-expert --pack demo/pack --task $$t --name $$t $(DEMO_EXPERT) --iters 100 --seed 1 && \
	  $(T2SIMD) train-expert --pack demo/pack --task $$t --name $$t --init $$t $(DEMO_EXPERT) --iters 200 --seed 2 || exit 1; \
	done
	$(T2SIMD) train-expert --pack demo/pack --task code --name code $(DEMO_RL) --iters 60 --seed 1
	$(T2SIMD) train-expert --pack demo/pack --task cls --name cls $(DEMO_EXPERT) --iters 40 --val-every 10 --max-tokens 16 --seed 1

## demo: rebuild the demo from scratch: base model, pack, experts, results table
demo:
	rm -rf demo/base demo/base.ckpt $(DEMO_STAGES)
	$(MAKE) demo-base demo-pack results

## results: measure docs/RESULTS.md (and docs/results.json) on the committed demo pack
results:
	$(GO) run ./build eval --pack demo/pack --table docs/RESULTS.md
