using System.Security.Cryptography;
using System.Text;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>Where the reference lost or stalled messages: restarts, outages, hostile envelopes.</summary>
public sealed class AgentReliabilityTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static async Task<List<string>> ReceiveBodiesAsync(ClientSession s, string alias, int count)
    {
        var bodies = new List<string>();
        while (bodies.Count < count)
        {
            var m = await s.ExpectAsync(alias, "MSG");
            var text = m.Text();
            Assert.StartsWith("MSG OK ", text);
            bodies.Add(text[(text.IndexOf('\n') + 1)..]);
        }
        return bodies;
    }

    [Fact]
    public async Task Sends_while_the_server_is_down_wait_in_the_outbox_and_arrive_in_order_once_it_is_back()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);

        await _h.StopServerAsync();
        await alice.ExpectAsync("bob", "DOWN");
        for (var i = 1; i <= 5; i++) await a.SendAsync($"c{i}", "bob", Encoding.ASCII.GetBytes($"m{i}"));
        await _h.RestartServerAsync(0);
        for (var i = 1; i <= 5; i++)
        {
            var sent = await alice.ExpectAsync("bob", "SENT");
            Assert.Equal($"c{i}", sent.CorrId);
        }
        Assert.Equal(["m1", "m2", "m3", "m4", "m5"], await ReceiveBodiesAsync(bob, "alice", 5));
    }

    [Fact]
    public async Task A_connection_dropped_while_its_hello_meets_auth_for_good_ends_after_the_drop_limit()
    {
        // The inviter never secures its queue (its agent is gone here; in a group it deleted the queue when it
        // removed us), so HELLO meets AUTH for HelloRetryLimit, 7 days. Pins DropHelloLimit: without it the
        // message queued behind HELLO, and the drop behind that, wait all that time.
        var server = await _h.StartServerAsync();
        var a = await _h.StartAgentAsync("a", server);
        var (_, inv) = await a.NewAsync(a.Connect("alice"), "bob");
        await _h.StopAgentAsync(a);
        var b = await _h.StartAgentAsync(_h.Options("b", server) with { DropHelloLimit = TimeSpan.FromSeconds(1) });
        await b.JoinAsync(b.Connect("bob"), "j", "alice", inv, noReply: false);
        await b.WaitForStoreAsync(tx => tx.NextJobs("alice", 8).Any(j => j.Kind == JobKind.SendHello && j.Attempts > 2), "HELLO answered AUTH");

        await b.SayGoodbyeAndDropAsync("alice", new AgentEnvelope.GLeft());

        await b.WaitForStoreAsync(tx => !tx.ConnectionExists("alice") && tx.NextJobs("alice", 1).Count == 0, "the connection and its jobs gone");
    }

    [Fact]
    public async Task A_farewell_refused_because_the_peer_dropped_us_already_ends_the_connection_without_an_error()
    {
        // Alice deleted her end: Bob's last envelope meets AUTH for good. On a connection Bob is ending, that is
        // no news for his client. Pins ConnectionJobs.FarewellRefused: without it the client gets ERR SMP AUTH.
        var (_, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (_, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await a.DeleteAsync("bob");
        await a.WaitForStoreAsync(tx => !tx.ConnectionExists("bob"), "Alice's end deleted at the server");

        await b.SayGoodbyeAndDropAsync("alice", new AgentEnvelope.GLeft());

        await b.WaitForStoreAsync(tx => !tx.ConnectionExists("alice"), "the connection gone");
        // An ERR would have been handed to Bob's session before the drop ran (one runner per connection).
        var outputs = new List<string>();
        while (bob.Output.TryRead(out var o)) outputs.Add(Encoding.UTF8.GetString(o.Payload));
        Assert.DoesNotContain(outputs, e => e.StartsWith("ERR", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_agent_restarted_with_messages_in_its_outbox_sends_them_after_the_restart()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (_, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);

        await _h.StopServerAsync();
        for (var i = 1; i <= 3; i++) await a.SendAsync($"c{i}", "bob", Encoding.ASCII.GetBytes($"m{i}"));
        a = await _h.RestartAgentAsync(a);
        await _h.RestartServerAsync(0);
        var alice = a.Connect("alice again");
        await a.SubscribeAsync(alice, "bob");
        for (var i = 1; i <= 3; i++) Assert.Equal($"c{i}", (await alice.ExpectAsync("bob", "SENT")).CorrId);
        Assert.Equal(["m1", "m2", "m3"], await ReceiveBodiesAsync(bob, "alice", 3));
    }

    [Fact]
    public async Task Messages_that_arrive_while_no_client_holds_the_connection_wait_for_the_next_one()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice, _) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        b.Disconnect(b.Connect("nobody"));
        a.Disconnect(alice);
        for (var i = 1; i <= 3; i++) await b.SendAsync($"c{i}", "alice", Encoding.ASCII.GetBytes($"m{i}"));
        // Restart too: the events are in the store, not only in memory.
        a = await _h.RestartAgentAsync(a);
        var later = a.Connect("later");
        await a.SubscribeAsync(later, "bob");
        Assert.Equal(["m1", "m2", "m3"], await ReceiveBodiesAsync(later, "bob", 3));
    }

    [Fact]
    public async Task A_second_client_subscribing_takes_the_connection_and_the_first_gets_end()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice1, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        var alice2 = a.Connect("alice2");
        await a.SubscribeAsync(alice2, "bob");
        await alice1.ExpectAsync("bob", "END");
        await b.SendAsync("1", "alice", "hi"u8.ToArray());
        Assert.Equal(["hi"], await ReceiveBodiesAsync(alice2, "bob", 1));
    }

    [Fact]
    public async Task The_server_restarting_mid_handshake_does_not_stop_the_connection_from_completing()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var alice = a.Connect("alice");
        var bob = b.Connect("bob");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await _h.StopServerAsync();
        await b.JoinAsync(bob, "11", "alice", inv, noReply: false);
        await _h.RestartServerAsync(0);
        await bob.ExpectAsync("alice", "CON");
        await alice.ExpectAsync("bob", "CON");
    }

    /// <summary>An attacker who has the invitation sends junk to the queue before the real peer joins.</summary>
    [Fact]
    public async Task Hostile_envelopes_are_reported_change_nothing_and_do_not_stall_the_queue()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var alice = a.Connect("alice");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await SendJunkOfEachKindAsync(inv, alice, "bob");

        // The real peer still connects: nothing above changed the queue's state.
        var bob = b.Connect("bob");
        await b.JoinAsync(bob, "11", "alice", inv, noReply: false);
        await bob.ExpectAsync("alice", "CON");
        await alice.ExpectAsync("bob", "CON");
    }

    /// <summary>
    /// What an attacker holding the invitation can send before the real peer joins, one envelope per check
    /// it fails: bytes that do not decrypt, a plaintext that does not parse, a HELLO before any confirmation.
    /// </summary>
    internal static async Task SendJunkOfEachKindAsync(SmpQueueInfo inv, ClientSession victim, string alias)
    {
        await using var attacker = new SmpClientPool(TestSupport.FastOptions());
        using var e2e = RsaPublicKey.Parse(inv.EncryptionKey);
        using var sign = RSA.Create(1024);

        await attacker.SendAsync(inv.Server, inv.SenderId, null, RandomNumberGenerator.GetBytes(600));
        Assert.Equal("ERR AGENT A_ENCRYPTION", (await victim.ExpectAsync(alias, "ERR")).Text());

        await attacker.SendAsync(inv.Server, inv.SenderId, null, E2eEnvelope.Seal(e2e, sign, "not an agent message"u8, SmpAgent.PaddedSize));
        Assert.Equal("ERR AGENT A_MESSAGE", (await victim.ExpectAsync(alias, "ERR")).Text());

        var helloTooEarly = AgentWire.Unchained(new AgentEnvelope.Hello(sign.ExportSubjectPublicKeyInfo()));
        await attacker.SendAsync(inv.Server, inv.SenderId, null, E2eEnvelope.Seal(e2e, sign, helloTooEarly, SmpAgent.PaddedSize));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await victim.ExpectAsync(alias, "ERR")).Text());
    }

    [Fact]
    public async Task A_hello_whose_signature_does_not_match_its_key_is_refused_with_a_signature_error()
    {
        var server = await _h.StartServerAsync();
        var a = await _h.StartAgentAsync("a", server);
        var alice = a.Connect("alice");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await using var attacker = new SmpClientPool(TestSupport.FastOptions());
        using var e2e = RsaPublicKey.Parse(inv.EncryptionKey);
        using var sign = RSA.Create(1024);
        using var other = RSA.Create(1024);
        using var sender = RSA.Create(1024);
        await attacker.SendAsync(inv.Server, inv.SenderId, null,
            E2eEnvelope.Seal(e2e, sign, AgentWire.Confirmation(sender.ExportSubjectPublicKeyInfo()), SmpAgent.PaddedSize));
        var hello = AgentWire.Unchained(new AgentEnvelope.Hello(other.ExportSubjectPublicKeyInfo()));
        // Retry while the agent has not yet secured the queue with the sender key.
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            try
            {
                await attacker.SendAsync(inv.Server, inv.SenderId, sender, E2eEnvelope.Seal(e2e, sign, hello, SmpAgent.PaddedSize), cts.Token);
                break;
            }
            catch (SmpClientException e) when (e.Error.Kind == SmpClientErrorKind.Smp)
            {
                await Task.Delay(20, cts.Token);
            }
        }
        Assert.Equal("ERR AGENT A_SIGNATURE", (await alice.ExpectAsync("bob", "ERR")).Text());
    }
}
