using BenchmarkDotNet.Running;

// Micro-benchmarks of the protocol's hot paths; docs/performance.md has the commands and results.
// Keep runs short on a shared machine: e.g. --filter '*' --job short
BenchmarkSwitcher.FromAssembly(typeof(Smp.Benchmarks.Keys).Assembly).Run(args);
