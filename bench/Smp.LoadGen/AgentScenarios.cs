using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Smp.Agent;

namespace Smp.LoadGen;

/// <summary>Two in-process agents (alice, bob) on one in-process server; each agent keeps its store in SQLite files.</summary>
internal static class AgentScenarios
{
    private static async Task<(Harness Harness, Person Alice, Person Bob)> TwoAgentsAsync(Options o)
    {
        var keyBits = o.Int("key-bits", 2048);
        var pool = o.Int("key-pool", 8);
        var harness = new Harness();
        var server = await harness.StartServerAsync();
        var alice = new Person("alice", await harness.StartAgentAsync("alice", keyBits, pool, server));
        var bob = new Person("bob", await harness.StartAgentAsync("bob", keyBits, pool, server));
        Console.WriteLine($"agents with {keyBits}-bit queue keys (E2E keys are always 2048), key pool {pool}");
        return (harness, alice, bob);
    }

    /// <summary>
    /// NEW at alice → JOIN at bob → CON at both, one connection at a time. With --warm (the default) a first
    /// connection, reported apart, opens the agents' server connections and JIT-compiles the path, and each
    /// timed connection starts once both key pools are full again; the refill between them is not timed.
    /// </summary>
    public static async Task SetupAsync(Options o, CancellationToken ct)
    {
        var count = o.Int("connections", 20);
        var warm = o.Flag("warm", true);
        var (harness, alice, bob) = await TwoAgentsAsync(o);
        await using var _ = harness;
        var setup = new Latencies();
        var times = new List<string>();
        var warming = Stopwatch.GetTimestamp();
        if (warm)
        {
            await Task.WhenAll(alice.Agent.WhenKeyPoolFullAsync(ct), bob.Agent.WhenKeyPoolFullAsync(ct));
            Report.Line("key pools full after", $"{Report.Seconds(warming):F1} s");
            var first = Stopwatch.GetTimestamp();
            await alice.ConnectAsync(bob, "warm-up", "warm-up", ct);
            Report.Line("first connection (not counted)", $"{Stopwatch.GetElapsedTime(first).TotalMilliseconds:F0} ms: server connections, JIT");
        }
        for (var i = 0; i < count; i++)
        {
            if (warm) await Task.WhenAll(alice.Agent.WhenKeyPoolFullAsync(ct), bob.Agent.WhenKeyPoolFullAsync(ct));
            var t0 = Stopwatch.GetTimestamp();
            await alice.ConnectAsync(bob, "c" + i, "c" + i, ct);
            setup.AddSince(t0);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture));
        }
        Report.Line("connection setup NEW -> both CON", $"{setup.Summary()}");
        Report.Line("each, in order (ms)", $"{string.Join(' ', times)}");
        foreach (var p in new[] { alice, bob })
            Report.Line($"key pool {p.Name}", $"{p.Agent.KeyPoolStatus}");
    }

    /// <summary>
    /// alice sends to bob over --connections duplex connections at once, at most --window messages in flight
    /// per connection; latency is SendAsync called → MSG read by bob's client.
    /// </summary>
    public static async Task MessagesAsync(Options o, CancellationToken ct)
    {
        var connections = o.Int("connections", 1);
        var perConnection = o.Int("messages", 200);
        var window = o.Int("window", 16);
        var duration = o.Time("duration", TimeSpan.FromSeconds(60));
        var (harness, alice, bob) = await TwoAgentsAsync(o);
        await using var _ = harness;
        var aliases = Enumerable.Range(0, connections).Select(i => "c" + i).ToArray();
        foreach (var a in aliases) await alice.ConnectAsync(bob, a, a, ct);
        Console.WriteLine($"{connections} connection(s), {perConnection} messages each, window {window}");

        var sentAt = new ConcurrentDictionary<string, long>();
        var slots = aliases.ToDictionary(a => a, _ => new SemaphoreSlim(window, window));
        var latencies = new Latencies();
        var allIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long received = 0, sent = 0, errors = 0;
        var sendingDone = false;
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(ct);

        var bobReads = Task.Run(async () =>
        {
            await foreach (var output in bob.Session.Output.ReadAllAsync(stopReading.Token))
            {
                await bob.Agent.DeliveredAsync(output);
                var text = Person.Text(output);
                if (!text.StartsWith("MSG ", StringComparison.Ordinal))
                {
                    if (text.StartsWith("ERR", StringComparison.Ordinal)) Interlocked.Increment(ref errors);
                    continue;
                }
                if (!text.Contains(" OK ", StringComparison.Ordinal)) Interlocked.Increment(ref errors);
                var body = text[(text.IndexOf('\n') + 1)..];
                var key = body[..body.IndexOf(' ')];
                if (sentAt.TryRemove(key, out var t0)) latencies.AddSince(t0);
                slots[output.Alias].Release();
                if (Interlocked.Increment(ref received) == Interlocked.Read(ref sent) && Volatile.Read(ref sendingDone)) allIn.TrySetResult();
            }
        }, CancellationToken.None);
        var aliceDrains = Task.Run(async () =>
        {
            await foreach (var output in alice.Session.Output.ReadAllAsync(stopReading.Token))
            {
                await alice.Agent.DeliveredAsync(output);
                var text = Person.Text(output);
                if (text.StartsWith("ERR", StringComparison.Ordinal) || text.StartsWith("MERR", StringComparison.Ordinal)) Interlocked.Increment(ref errors);
            }
        }, CancellationToken.None);

        var padding = new string('.', o.Int("body-size", 64));
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(aliases.Select(alias => Task.Run(async () =>
        {
            for (var n = 0; n < perConnection && Stopwatch.GetTimestamp() < deadline; n++)
            {
                await slots[alias].WaitAsync(ct);
                var key = $"{alias}:{n}";
                sentAt[key] = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref sent);
                await alice.Agent.SendAsync("s", alias, Encoding.ASCII.GetBytes(key + " " + padding), ct);
            }
        }, ct)));
        Volatile.Write(ref sendingDone, true);
        if (Interlocked.Read(ref received) == Interlocked.Read(ref sent)) allIn.TrySetResult();
        await allIn.Task.WaitAsync(TimeSpan.FromMinutes(2), ct);
        var seconds = Report.Seconds(started);
        await stopReading.CancelAsync();
        await Task.WhenAll(bobReads, aliceDrains).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);

        Report.Line("messages delivered", $"{Interlocked.Read(ref received)} in {seconds:F1} s");
        Report.Line("throughput", $"{received / seconds:F1} msg/s");
        Report.Line("latency SendAsync -> MSG at bob", $"{latencies.Summary()}");
        Report.Line("errors", $"{Interlocked.Read(ref errors)}");
    }

    /// <summary>Heap and working-set growth of two agents (and the server's queues) per idle duplex connection.</summary>
    public static async Task MemoryAsync(Options o, CancellationToken ct)
    {
        var count = o.Int("connections", 30);
        var (harness, alice, bob) = await TwoAgentsAsync(o);
        await using var _ = harness;
        // One connection first, so that lazily built state (SMP client connections, SQLite caches) is not counted per connection.
        await alice.ConnectAsync(bob, "warm", "warm", ct);
        var before = Report.Memory();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++) await alice.ConnectAsync(bob, "c" + i, "c" + i, ct);
        var seconds = Report.Seconds(started);
        var after = Report.Memory();
        Report.Line("connections made", $"{count} in {seconds:F1} s");
        Report.Line("heap per duplex connection", $"{(after.Heap - before.Heap) / (double)count:F0} B (both agents' ends + the server's 2 queues)");
        Report.Line("working set per duplex connection", $"{(after.WorkingSet - before.WorkingSet) / (double)count:F0} B (includes SQLite page cache)");
    }
}
