"""The benchmark grid: dataset x N x model x seed -> resumable cells, and their summary tables."""
