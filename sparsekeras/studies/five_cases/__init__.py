"""The MNIST comparison of five ways to get sparse codes."""
