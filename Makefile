# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

# The vector kernels the suite also runs under (`make test-cpus`): PyTorch's own (ATEN_CPU_CAPABILITY),
# MKL's and oneDNN's. AVX2 without AVX-512 is what an AMD Zen 2/3 machine runs (it reproduces its
# results here); "default" is PyTorch's plain kernels with SSE4.2 BLAS.
CPU_AVX2 := ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
CPU_DEFAULT := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41

.PHONY: install demo test test-cpus
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/g2d demo $(ARGS)

test: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 $(ARGS)

test-cpus: $(VENV)/.installed
	$(CPU_AVX2) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 $(ARGS)
	$(CPU_DEFAULT) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 $(ARGS)
