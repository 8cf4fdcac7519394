# darknet-py: `make install` then `make test` on a fresh machine (Debian/Ubuntu, root or sudo).
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Where `make weights` looks before downloading (CI points it at ../shared/weights).
export DARKNET_WEIGHTS_MIRROR ?= $(abspath ../shared/weights)

.PHONY: install oracle mpi test test-zoo bench bench-gpu gpu-check data weights

install: oracle mpi
	$(PYTHON) -m pip install -q -e ".[test,mpi,fast]"
	$(MAKE) data

# Open MPI (mpirun and the library mpi4py loads): data-parallel training and its 2-rank tests.
mpi:
	@command -v mpirun >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq openmpi-bin libopenmpi-dev; }

# The original Darknet (Debian's package): the oracle every numeric test compares against.
oracle:
	@command -v darknet >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq darknet; }

test:
	$(PYTHON) -m pytest -q tests

# The model zoo with the large networks' own-size runs at batch 2 too (make test runs them at batch 1).
test-zoo:
	DARKNET_PY_FULL_ZOO=1 $(PYTHON) -m pytest -q tests/layers/test_layers_oracle.py -k zoo

bench:
	$(PYTHON) bench/bench_cpu.py
	$(PYTHON) bench/bench_train.py
	$(PYTHON) bench/bench_distributed.py
	$(PYTHON) bench/bench_video.py

bench-gpu:
	$(PYTHON) bench/bench_gpu.py

# On a machine with an NVIDIA GPU: the GPU tests (inference and training against the CPU path), then
# a quick benchmark (`make bench-gpu` for the full tables).
gpu-check:
	$(PYTHON) -m pytest -q tests/gpu
	$(PYTHON) bench/bench_gpu.py --quick

data:
	$(PYTHON) -m darknet_py data get -dest data >/dev/null

# pjreddie's weights by name, size- and hash-checked: `make weights WEIGHTS="yolov2 yolo9000"`.
WEIGHTS ?= tiny yolov2-tiny
weights:
	for name in $(WEIGHTS); do $(PYTHON) -m darknet_py weights get $$name || exit 1; done
