"""Export to other runtimes: `onnx.py` writes a network as an ONNX graph (`darknet-py export onnx`).

The `onnx` package is imported here only, so nothing else in darknet-py needs it
(`pip install darknet-py[export]`).
"""
