using System.Diagnostics;
using System.Net;
using System.Text;
using Smp.Agent.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.LoadGen;

/// <summary>
/// Two agents in this process, each behind its TCP client protocol listener, and one client of each on
/// loopback (AgentTcpClient), as the issue measured them: one duplex connection; a burst of SENDs written at
/// once (msg/s until the last MSG and SENT), then SENDs one at a time (SEND written → MSG read by bob's
/// client). CPU per message is this process's CPU over the phase / messages: both agents and both clients,
/// and the relay too unless --server names an external one.
/// </summary>
internal static class AgentTcpScenario
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    public static async Task RunAsync(Options o, CancellationToken ct)
    {
        var messages = o.Int("messages", 300);
        var oneAtATime = o.Int("one-at-a-time", 100);
        var warmup = o.Int("warmup", 20);
        var keyBits = o.Int("key-bits", 2048);
        var window = o.Int("window", new Smp.Agent.AgentOptions().SendWindow);
        var external = o.Text("server");
        await using var harness = new Harness();
        var server = external is null ? await harness.StartServerAsync() : SmpServerAddress.Parse(external);
        var a = await harness.StartAgentAsync("alice", keyBits, 8, window, server);
        var b = await harness.StartAgentAsync("bob", keyBits, 8, window, server);
        await using var aliceListener = AgentListener.Start(a, IPAddress.Loopback, 0);
        await using var bobListener = AgentListener.Start(b, IPAddress.Loopback, 0);
        await using var alice = await AgentTcpClient.ConnectAsync("127.0.0.1", aliceListener.Port, ct);
        await using var bob = await AgentTcpClient.ConnectAsync("127.0.0.1", bobListener.Port, ct);
        Console.WriteLine($"relay {(external is null ? "in this process" : external + " (external, its CPU not counted)")}, {keyBits}-bit queue keys, send window {window}");

        var inv = (AgentCommand.Inv)(await alice.RequestAsync("bob", new AgentCommand.New(), Patience, ct)).Command!;
        await bob.SendAsync(bob.NextCorrId(), "alice", new AgentCommand.Join(inv.QueueInfo), ct);
        await ExpectAsync<AgentCommand.Con>(bob, "alice", ct);
        await ExpectAsync<AgentCommand.Con>(alice, "bob", ct);
        // The keys the setup took are made again on the pools' threads; that is setup work, not per-message.
        await Task.WhenAll(a.WhenKeyPoolFullAsync(ct), b.WhenKeyPoolFullAsync(ct));

        for (var i = 0; i < warmup; i++) await OneAsync(alice, bob, "w" + i, ct);

        // Burst: every SEND written before any answer is read.
        var cpu = Cpu();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < messages; i++) await alice.SendAsync("b" + i, "bob", new AgentCommand.Send(Encoding.ASCII.GetBytes("b" + i)), ct);
        for (var i = 0; i < messages; i++) await ExpectMsgAsync(bob, ct);
        for (var i = 0; i < messages; i++) await ExpectAsync<AgentCommand.Sent>(alice, "bob", ct);
        var seconds = Report.Seconds(started);
        var burstCpu = (Cpu() - cpu).TotalMilliseconds / messages;
        Report.Line("burst", $"{messages} SENDs written at once: {messages / seconds:F1} msg/s ({seconds:F2} s to the last MSG and SENT)");
        Report.Line("burst CPU per message", $"{burstCpu:F2} ms (this process)");

        var latencies = new Latencies();
        cpu = Cpu();
        for (var i = 0; i < oneAtATime; i++) latencies.Add(await OneAsync(alice, bob, "o" + i, ct));
        var singleCpu = (Cpu() - cpu).TotalMilliseconds / Math.Max(1, oneAtATime);
        Report.Line("one at a time SEND -> MSG at bob", $"{latencies.Summary()}");
        Report.Line("one at a time CPU per message", $"{singleCpu:F2} ms (this process)");
    }

    /// <summary>One SEND, then its MSG at bob (the latency, in ticks) and its SENT at alice.</summary>
    private static async Task<long> OneAsync(AgentTcpClient alice, AgentTcpClient bob, string body, CancellationToken ct)
    {
        var t0 = Stopwatch.GetTimestamp();
        await alice.SendAsync(body, "bob", new AgentCommand.Send(Encoding.ASCII.GetBytes(body)), ct);
        await ExpectMsgAsync(bob, ct);
        var ticks = Stopwatch.GetTimestamp() - t0;
        await ExpectAsync<AgentCommand.Sent>(alice, "bob", ct);
        return ticks;
    }

    private static TimeSpan Cpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static async Task<T> ExpectAsync<T>(AgentTcpClient client, string alias, CancellationToken ct) where T : AgentCommand =>
        (T)(await client.ExpectAsync(t => t.Alias == alias && t.Command is T, Patience, ct)).Command!;

    private static async Task ExpectMsgAsync(AgentTcpClient bob, CancellationToken ct)
    {
        var msg = await ExpectAsync<AgentCommand.Msg>(bob, "alice", ct);
        if (!msg.Integrity.IsOk) throw new InvalidOperationException($"a message arrived with integrity {msg.Integrity}");
    }
}
