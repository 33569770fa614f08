"""`flywheel bench` measurements that need the simulator's stand-in teacher beside a stage."""
