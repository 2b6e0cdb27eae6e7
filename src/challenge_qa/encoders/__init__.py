"""The models: sentence embeddings (PyTorch or ONNX Runtime) and the trained answer reader."""
