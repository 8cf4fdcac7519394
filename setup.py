from setuptools import find_packages, setup

setup(
    name="darknet-py",
    version="0.1.0",
    description="Darknet (YOLOv2, Darknet-19, YOLO9000) in Python: the original .cfg and .weights, numpy and CUDA",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["darknet_py", "darknet_py.*"]),
    package_data={"darknet_py": ["gpu/kernels/*.cu", "gpu/kernels/*.cuh"]},
    python_requires=">=3.9",
    install_requires=[
        "numpy>=1.22",
        "opencv-python-headless>=4.5,<5",  # OpenCV 5 dropped cv2.dnn.readNetFromDarknet (the benchmark's peer)
    ],
    extras_require={
        "gpu": ["cupy-cuda12x"],
        "mpi": ["mpi4py"],  # data-parallel training under mpirun (Open MPI from `make mpi`)
        "export": ["onnx"],  # darknet-py export onnx (darknet_py/export); nothing else needs it
        "fast": ["numba"],  # the CPU kernels compiled with numba (darknet_py/cpu/jit.py and the modules using it)
        # the export's proofs run the graphs in ONNX Runtime and OpenVINO (and OpenCV, installed anyway)
        "test": ["pytest", "pycocotools", "onnx", "onnxruntime", "openvino"],
    },
    entry_points={"console_scripts": ["darknet-py=darknet_py.cli:main"]},
)
