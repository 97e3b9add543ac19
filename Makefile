# Thin wrapper over the scripts: each target is one of the README's commands.
.PHONY: all build demo test bench deps format clean
all: build
deps:
	scripts/deps
build: deps
	scripts/build
demo:
	scripts/demo
test:
	tests/run
bench: deps
	bench/run
format:
	clang-format -i $$(git ls-files '*.c' '*.h')
clean:
	rm -rf build build-asan build-fuzz
