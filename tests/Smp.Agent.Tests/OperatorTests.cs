using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>
/// What the operator of an agent sees (docs/agent.md, "Logging" and "Metrics"): the "Smp.Agent" meter read
/// from one agent's own meter, and the log entries of one agent captured, never a queue id, key or body.
/// </summary>
public sealed class OperatorTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    /// <summary>The observable instruments of one agent's meter now: "name{tag=value}" to value.</summary>
    private static Dictionary<string, long> Read(Meter meter)
    {
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            var key = new StringBuilder(i.Name);
            foreach (var t in tags) key.Append('{').Append(t.Key).Append('=').Append(t.Value).Append('}');
            values[key.ToString()] = v;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    private async Task<(SmpAgent Agent, CapturingLoggerFactory Log)> StartLoggedAgentAsync(string name, SmpServerAddress server)
    {
        var log = new CapturingLoggerFactory(name);
        return (await _h.StartAgentAsync(_h.Options(name, server) with { LoggerFactory = log }), log);
    }

    [Fact]
    public async Task The_meter_shows_relays_up_and_down_connections_by_status_and_messages_sent_and_received()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        Assert.Equal(SmpAgent.MeterName, a.Meter.Name);
        var start = Read(a.Meter);
        Assert.Equal(0, start["smp.agent.relays{state=up}"]);
        Assert.Equal(0, start["smp.agent.connections{status=active}"]);

        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await a.SendAsync("1", "bob", "hello"u8.ToArray());
        await alice.ExpectAsync("bob", "SENT");
        await bob.ExpectAsync("alice", "MSG");
        var connected = Read(a.Meter);
        Assert.Equal(1, connected["smp.agent.relays{state=up}"]);
        Assert.Equal(0, connected["smp.agent.relays{state=down}"]);
        Assert.Equal(1, connected["smp.agent.connections{status=active}"]);
        Assert.Equal(0, connected["smp.agent.connections{status=pending}"]);
        // Alice: confirmation, HELLO and the message out; Bob's confirmation, HELLO and REPLY in.
        Assert.Equal(3, connected["smp.agent.messages.sent"]);
        Assert.Equal(3, connected["smp.agent.messages.received"]);
        Assert.Equal(3, Read(b.Meter)["smp.agent.messages.received"]);

        await _h.StopServerAsync();
        await alice.ExpectAsync("bob", "DOWN");
        var down = Read(a.Meter);
        Assert.Equal(0, down["smp.agent.relays{state=up}"]);
        Assert.Equal(1, down["smp.agent.relays{state=down}"]);

        await _h.RestartServerAsync(0);
        await alice.ExpectAsync("bob", "UP");
        var up = Read(a.Meter);
        Assert.Equal(1, up["smp.agent.relays{state=up}"]);
        Assert.Equal(0, up["smp.agent.relays{state=down}"]);
    }

    [Fact]
    public async Task Sends_waiting_for_a_relay_show_as_outbox_jobs_and_retries_and_undelivered_events_as_waiting()
    {
        var server = await _h.StartServerAsync();
        var (a, log) = await StartLoggedAgentAsync("a", server);
        var b = await _h.StartAgentAsync("b", server);
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await _h.StopServerAsync();
        await alice.ExpectAsync("bob", "DOWN");
        await a.SendAsync("1", "bob", "m1"u8.ToArray());
        await a.SendAsync("2", "bob", "m2"u8.ToArray());
        Assert.Equal(2, Read(a.Meter)["smp.agent.outbox.jobs"]);
        await log.WaitForAsync(e => e.Message.StartsWith("job SendPlainMessage waits to be tried again", StringComparison.Ordinal));
        Assert.True(Read(a.Meter)["smp.agent.retries"] >= 1, "a send that met its relay down was retried");

        await _h.RestartServerAsync(0);
        await alice.ExpectAsync("bob", "SENT");
        await alice.ExpectAsync("bob", "SENT");
        Assert.Equal(0, Read(a.Meter)["smp.agent.outbox.jobs"]);

        // The harness's sessions never report outputs written, so every event stays stored until this does.
        var m1 = await bob.ExpectAsync("alice", "MSG");
        await bob.ExpectAsync("alice", "MSG");
        var waiting = Read(b.Meter)["smp.agent.events.waiting"];
        Assert.True(waiting >= 2, $"CON and MSG at least wait for bob's front end, not {waiting}");
        await b.DeliveredAsync(m1);
        Assert.Equal(waiting - 1, Read(b.Meter)["smp.agent.events.waiting"]);
    }

    /// <summary>An attacker who has the invitation sends junk of each kind to the queue.</summary>
    [Fact]
    public async Task Hostile_envelopes_are_counted_by_kind_and_logged_naming_the_relay_but_not_the_queue()
    {
        var server = await _h.StartServerAsync();
        var (a, log) = await StartLoggedAgentAsync("a", server);
        var alice = a.Connect("alice");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await AgentReliabilityTests.SendJunkOfEachKindAsync(inv, alice, "bob");

        var counts = Read(a.Meter);
        Assert.Equal(1, counts["smp.agent.envelopes.rejected{kind=A_ENCRYPTION}"]);
        Assert.Equal(1, counts["smp.agent.envelopes.rejected{kind=A_MESSAGE}"]);
        Assert.Equal(1, counts["smp.agent.envelopes.rejected{kind=A_PROHIBITED}"]);
        Assert.Equal(0, counts["smp.agent.envelopes.rejected{kind=A_SIGNATURE}"]);
        Assert.Equal(0, counts["smp.agent.messages.received"]);

        var warnings = log.Entries.Where(e => e.Level == LogLevel.Warning && e.Message.Contains("was rejected", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, warnings.Count);
        Assert.All(warnings, w => Assert.Contains($"received on {server.Endpoint} was rejected", w.Message, StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Message.Contains("(A_PROHIBITED)", StringComparison.Ordinal));
        AssertNoneAbove(LogLevel.Debug, log, Convert.ToBase64String(inv.SenderId), Convert.ToBase64String(inv.EncryptionKey).Substring(64, 40));
    }

    [Fact]
    public async Task A_relay_lost_and_back_is_logged_once_per_outage_naming_host_and_port()
    {
        var server = await _h.StartServerAsync();
        var (a, log) = await StartLoggedAgentAsync("a", server);
        var b = await _h.StartAgentAsync("b", server);
        var (alice, _) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        static bool Down(LogEntry e) => e.Level == LogLevel.Warning && e.Message.Contains(" is down ", StringComparison.Ordinal);
        static bool Up(LogEntry e) => e.Level == LogLevel.Information && e.Message.Contains(" is up again", StringComparison.Ordinal);

        for (var outage = 1; outage <= 2; outage++)
        {
            await _h.StopServerAsync();
            await alice.ExpectAsync("bob", "DOWN");
            // Several reconnection attempts fail meanwhile (at debug): the outage is still news once.
            var failed = log.Entries.Count(e => e.Message.StartsWith("Reconnecting to SMP server", StringComparison.Ordinal));
            await log.WaitForAsync(e => e.Message.StartsWith("Reconnecting to SMP server", StringComparison.Ordinal), failed + 3);
            await _h.RestartServerAsync(0);
            await alice.ExpectAsync("bob", "UP");
            await log.WaitForAsync(Up, outage);
            Assert.Equal(outage, log.Entries.Count(Down));
            Assert.Equal(outage, log.Entries.Count(Up));
        }
        Assert.All(log.Entries.Where(e => Down(e) || Up(e)), e => Assert.StartsWith($"SMP server {server.Endpoint} is ", e.Message, StringComparison.Ordinal));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Information && e.Message.Contains('#', StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_relay_whose_key_does_not_match_the_key_hash_is_warned_about_once_naming_it()
    {
        var real = await _h.StartServerAsync();
        var impostor = real with { KeyHash = SHA256.HashData("some other key"u8) };
        var (a, log) = await StartLoggedAgentAsync("a", impostor);
        var alice = a.Connect("alice");
        for (var i = 0; i < 2; i++)
        {
            var e = await Assert.ThrowsAsync<AgentProtocolException>(() => a.NewAsync(alice, "bob" + i));
            Assert.Equal("BROKER TRANSPORT BAD_HASH", e.Error.ToString());
        }
        var warning = Assert.Single(log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("identity did not match", StringComparison.Ordinal));
        Assert.StartsWith($"SMP server {impostor.Endpoint} is refused: its identity did not match", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Information && e.Message.Contains("cannot be reached", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connection_and_message_exchange_logs_no_queue_id_key_or_body_at_information_or_above()
    {
        var server = await _h.StartServerAsync();
        var (a, logA) = await StartLoggedAgentAsync("a", server);
        var (b, logB) = await StartLoggedAgentAsync("b", server);
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        const string Body = "the body of a private message";
        await a.SendAsync("1", "bob", Encoding.UTF8.GetBytes(Body));
        await bob.ExpectAsync("alice", "MSG");
        await b.SendAsync("2", "alice", "and its answer"u8.ToArray());
        await alice.ExpectAsync("bob", "MSG");
        await _h.StopServerAsync();
        await alice.ExpectAsync("bob", "DOWN");
        await _h.RestartServerAsync(0);
        await alice.ExpectAsync("bob", "UP");

        var secrets = new List<string> { Body, "and its answer" };
        foreach (var (agent, alias) in new[] { (a, "bob"), (b, "alice") })
        {
            var (rcv, snd) = await agent.Store.TransactAsync(tx => (tx.GetRcvQueue(alias)!, tx.GetSndQueue(alias)!));
            foreach (var id in new[] { rcv.RcvId, rcv.SndId, snd.SndId }) secrets.AddRange([Convert.ToBase64String(id), Convert.ToHexString(id)]);
            foreach (var key in new[] { rcv.RcvKey, rcv.DecryptKey, rcv.EncryptKey, snd.SndKey, snd.SignKey, snd.EncryptKey })
                secrets.Add(Convert.ToBase64String(key).Substring(64, 40)); // past the DER header every key shares
        }
        Assert.Contains(logA.Entries, e => e.Level == LogLevel.Information && e.Message.StartsWith("agent started", StringComparison.Ordinal));
        AssertNoneAbove(LogLevel.Debug, logA, [.. secrets]);
        AssertNoneAbove(LogLevel.Debug, logB, [.. secrets]);
    }

    private static void AssertNoneAbove(LogLevel level, CapturingLoggerFactory log, params string[] secrets)
    {
        foreach (var entry in log.Entries.Where(e => e.Level > level))
            foreach (var secret in secrets)
                Assert.False(entry.Message.Contains(secret, StringComparison.Ordinal), $"'{entry.Message}' contains '{secret}'");
    }
}
