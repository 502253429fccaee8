"""Side-by-side train-step throughput of cnn and PyTorch on the same architectures (`python -m benchmarks.compare`)."""
