using System.Globalization;
using System.Text;
using Smp.Agent.Connections;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>
/// Windowed sending (agent.md §4): many SENDs of one connection in flight at once, and what a failure in the
/// middle of a window must not do — lose a message, deliver one twice, or reorder them.
/// </summary>
public sealed class SendWindowTests : IAsyncDisposable
{
    private readonly AgentHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    private static string Body(AgentOutput o) => o.Text()[(o.Text().IndexOf('\n', StringComparison.Ordinal) + 1)..];

    private static long SentId(AgentOutput o) => long.Parse(o.Text()["SENT ".Length..], CultureInfo.InvariantCulture);

    /// <summary>Queues m0..m(n-1) at once: SEND returns when the message is stored, before the server has it.</summary>
    private static async Task SendBurstAsync(SmpAgent agent, string alias, int n)
    {
        for (var i = 0; i < n; i++) await agent.SendAsync("s" + i, alias, Encoding.UTF8.GetBytes("m" + i));
    }

    /// <summary>Reads <paramref name="n"/> SENTs: they must come in the order of the messages, each once.</summary>
    private static async Task ExpectSentInOrderAsync(ClientSession session, string alias, int n, long firstId = 1)
    {
        for (var i = 0; i < n; i++)
        {
            var sent = await session.ExpectAsync(alias, "SENT");
            Assert.Equal(firstId + i, SentId(sent));
            Assert.Equal("s" + (firstId + i - 1), sent.CorrId);
        }
    }

    /// <summary>Reads messages until <c>end</c>: they must be m0..m(n-1) in order, each once, all with integrity OK.</summary>
    private static async Task ExpectBurstThenEndAsync(ClientSession session, string alias, int n)
    {
        var bodies = new List<string>();
        while (true)
        {
            var msg = await session.ExpectAsync(alias, "MSG");
            Assert.StartsWith("MSG OK", msg.Text());
            if (Body(msg) == "end") break;
            bodies.Add(Body(msg));
        }
        Assert.Equal(Enumerable.Range(0, n).Select(i => "m" + i), bodies);
    }

    [Fact]
    public async Task A_burst_survives_a_server_restart_in_the_middle_of_a_window_in_order_and_once()
    {
        var (_, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        const int n = 120;

        await SendBurstAsync(a, "bob", n);
        await ExpectSentInOrderAsync(alice, "bob", 3);
        // The first window is confirmed in part at most: the rest is in flight or not sent when the relay goes.
        await _h.RestartServerAsync(0);
        await ExpectSentInOrderAsync(alice, "bob", n - 3, firstId: 4);
        await a.SendAsync("end", "bob", "end"u8.ToArray());

        await ExpectBurstThenEndAsync(bob, "alice", n);
    }

    [Fact]
    public async Task A_window_into_a_full_queue_waits_for_the_reader_and_arrives_in_order_once()
    {
        var server = await _h.StartServerAsync(quota: 8);
        var log = new CapturingLoggerFactory("a");
        var a = await _h.StartAgentAsync(_h.Options("a", server) with { LoggerFactory = log });
        var b = await _h.StartAgentAsync("b", server);
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        const int n = 40;

        // Bob's agent is away: a few messages fill his queue, the rest gets QUOTA and waits.
        var bobOptions = await _h.StopAgentAsync(b);
        await SendBurstAsync(a, "bob", n);
        // The first window may be a single message, answered before the queue is full: wait for the refusal.
        await log.WaitForAsync(e => e.Message.Contains("waits to be tried again", StringComparison.Ordinal)
                                    && e.Message.Contains("QUOTA", StringComparison.Ordinal));
        Assert.True(_h.Server().Stats.QuotaRefusals > 0);
        await ExpectSentInOrderAsync(alice, "bob", 1);
        b = await _h.StartAgentAsync(bobOptions);
        var bobAgain = b.Connect("bob again");
        await b.SubscribeAllAsync(bobAgain);

        await ExpectSentInOrderAsync(alice, "bob", n - 1, firstId: 2);
        await a.SendAsync("end", "bob", "end"u8.ToArray());
        await ExpectBurstThenEndAsync(bobAgain, "alice", n);
        GC.KeepAlive(bob);
    }

    [Fact]
    public async Task A_message_sealed_into_the_outbox_by_an_older_agent_is_still_sent()
    {
        // JobKind.SendMessage (5): the body was sealed when the message was queued, before SendPlainMessage (10).
        var (_, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        var id = await a.Store.TransactAsync(tx =>
        {
            var snd = tx.GetSndQueue("bob")!;
            var (internalId, plaintext) = Envelopes.NextPlaintext(tx, "bob", new AgentEnvelope.Msg("from an old outbox"u8.ToArray()), clientMessage: true);
            tx.InsertJob("bob", JobKind.SendMessage, Envelopes.Seal(snd, plaintext), "old", internalId);
            return internalId;
        });
        a.Outbox.Kick("bob");

        var sent = await alice.ExpectAsync("bob", "SENT");
        Assert.Equal(id, SentId(sent));
        var msg = await bob.ExpectAsync("alice", "MSG");
        Assert.StartsWith("MSG OK", msg.Text());
        Assert.Equal("from an old outbox", Body(msg));
    }
}
