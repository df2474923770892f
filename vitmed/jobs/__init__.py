"""Job plumbing, apart from the science: logging, devices, atomic files, speed-ups, warm start."""
