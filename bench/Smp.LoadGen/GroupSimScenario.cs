using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Smp.Agent.Simulation;

namespace Smp.LoadGen;

/// <summary>
/// Many schedules of the randomized group simulation (groups.md §12, the same code as GroupSimulationTests):
/// seeds --seed … --seed + --schedules - 1, one after another; prints each result, then how many passed, the
/// failing seeds and how often each invariant failed. Exit code 1 when any failed, 2 when one hung
/// (--hang-after, default 600 s).
/// </summary>
internal static class GroupSimScenario
{
    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        var schedules = o.Int("schedules", 10);
        var first = o.Int("seed", 1);
        var full = o.Flag("full", false);
        var basis = full ? GroupSimOptions.Full : GroupSimOptions.Today;
        var options = basis with
        {
            Agents = o.Int("agents", basis.Agents),
            Servers = o.Int("servers", basis.Servers),
            Steps = o.Int("steps", basis.Steps),
            ConcurrentAdds = o.Flag("concurrent-adds", basis.ConcurrentAdds),
            FullMessageInvariant = o.Flag("full-messages", basis.FullMessageInvariant),
            Restarts = o.Flag("restarts", basis.Restarts),
            Outages = o.Flag("outages", basis.Outages),
            Leaves = o.Flag("leaves", basis.Leaves),
            Removals = o.Flag("removals", basis.Removals),
            Rejects = o.Flag("rejects", basis.Rejects),
            KeyBits = o.Int("key-bits", basis.KeyBits),
            SettleTimeout = o.Time("settle-timeout", basis.SettleTimeout),
            SettleQuiet = o.Time("settle-quiet", basis.SettleQuiet),
        };
        var verbose = o.Flag("verbose", false);
        var verboseSchedules = o.Flag("schedules-verbose", false);
        // Each schedule's trace (rounds, settles, the agents' log with the Debug lines of races and relays) kept
        // in memory and printed only when it fails: a rare, timing-dependent failure comes with its story.
        var traceFailures = o.Flag("trace-failures", false);
        var hangAfter = o.Time("hang-after", TimeSpan.FromMinutes(10));
        Console.WriteLine($"{schedules} schedules from seed {first}: {options}");
        var failed = new List<SimResult>();
        var started = Stopwatch.GetTimestamp();
        for (var seed = first; seed < first + schedules; seed++)
        {
            ct.ThrowIfCancellationRequested();
            var trace = new List<string>();
            void Keep(string line)
            {
                lock (trace) trace.Add(line);
            }
            var log = traceFailures ? Keep : verbose ? Console.WriteLine : (Action<string>?)null;
            var run = GroupSimulation.RunAsync(seed, options, log, ct, traceFailures ? LogLevel.Debug : LogLevel.Information);
            // Every wait in a schedule is bounded, so one that runs on past this has hung: say where it was
            // (the trace so far) and stop, rather than wait for ever.
            if (await Task.WhenAny(run, Task.Delay(hangAfter, ct)) != run)
            {
                lock (trace) foreach (var line in trace) Console.WriteLine(line);
                Console.WriteLine($"seed {seed}: HUNG: still running after {hangAfter.TotalMinutes:F0} min");
                return 2;
            }
            var result = await run;
            if (!result.Passed && traceFailures)
                lock (trace) foreach (var line in trace) Console.WriteLine(line);
            if (result.Passed && !verboseSchedules) Console.WriteLine($"seed {seed}: passed in {result.Elapsed.TotalSeconds:F0} s; {result.Stats}");
            else Console.WriteLine(result.Report());
            if (!result.Passed) failed.Add(result);
        }
        Report.Line("schedules passed", $"{schedules - failed.Count} of {schedules} in {Report.Seconds(started):F0} s");
        Report.Line("failed seeds", $"{(failed.Count == 0 ? "none" : string.Join(" ", failed.Select(f => f.Seed)))}");
        foreach (var g in failed.SelectMany(f => f.Violations.Select(v => (f.Seed, v.Invariant))).Distinct().GroupBy(x => x.Invariant).OrderBy(g => g.Key, StringComparer.Ordinal))
            Report.Line($"  {g.Key} failed in", $"{g.Count()} schedule(s): seeds {string.Join(' ', g.Select(x => x.Seed))}");
        return failed.Count == 0 ? 0 : 1;
    }
}
