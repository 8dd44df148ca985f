"""Lightning callbacks: divergence guard, time-to-target, run summary."""
