# The README's two commands, `make book` and `make test`, each set up .venv first.
#   VQLIT_SCALE=smoke|quick|full   scale of the chapters (default: full on a CUDA GPU, else quick;
#                                  `make test` defaults to smoke)
#   TORCH=...                      the torch requirement installed first (CPU machines of this project
#                                  have torch 2.13.0 as a local wheel; elsewhere any torch>=2.2 works)
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
# Notebooks run in the kernel installed into .venv, even if the user has another "python3" kernel.
export JUPYTER_PATH := $(abspath $(VENV))/share/jupyter

.PHONY: book test export html-check clean

book: $(VENV)/.book-deps
	$(BIN)/python tools/export.py --check
	$(BIN)/jupyter-book build . --all -W -n --keep-going
	$(BIN)/python tools/check_build.py _build/html

test: $(VENV)/.test-deps
	VQLIT_SCALE=$${VQLIT_SCALE:-smoke} $(BIN)/python -m pytest

# Regenerate vqlit/ and the Colab notebooks after editing a chapter.
export: $(VENV)/.book-deps
	$(BIN)/python tools/export.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $@

$(VENV)/.book-deps: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[book]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (vqlit)" >/dev/null
	touch $@

$(VENV)/.test-deps: pyproject.toml $(VENV)/.book-deps
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

clean:
	rm -rf _build
