"""The GPU backend: where arrays live and kernels compile (`device.py`), the forward plan of kernel launches
and cuBLAS GEMMs (`plan.py`), its training step (`train.py`), a network on one GPU (`engine.py`), and the
hand-written CUDA kernels (`kernels/*.cu`). Nothing here imports CuPy unless it is installed."""
