using System.Text;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

/// <summary>
/// The receive-side rows of the guarantee table (architecture.md, "Guarantees"): two real agents talk through
/// a <see cref="ScriptedRelay"/> that can deliver again, deliver copies under new ids and watch every ACK.
/// Each test fails when the check it names is removed.
/// </summary>
public sealed class DeliveryGuaranteeTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private readonly ScriptedRelay _relay = new();
    private SmpAgent _a = null!;
    private SmpAgent _b = null!;
    private ClientSession _alice = null!;
    private ClientSession _bob = null!;

    public async Task InitializeAsync()
    {
        _a = await _h.StartAgentAsync("a", _relay.Address);
        _b = await _h.StartAgentAsync("b", _relay.Address);
        (_alice, _bob) = await SessionExtensions.ConnectAliceAndBobAsync(_a, _b);
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        await _relay.DisposeAsync();
    }

    /// <summary>The relay queue an agent receives a connection's messages on, once the handshake's messages on it are all ACKed.</summary>
    private async Task<ScriptedRelay.RelayQueue> ReceiveQueueAsync(SmpAgent agent, string alias)
    {
        var rcv = await agent.Store.TransactAsync(tx => tx.GetRcvQueue(alias));
        var q = _relay.Queues.Single(q => q.RecipientId.AsSpan().SequenceEqual(rcv!.RcvId));
        await _relay.WaitAsync(() => q.Messages.Count == 0);
        return q;
    }

    private async Task<string> AliceSendsAsync(string text)
    {
        await _a.SendAsync("s-" + text, "bob", Encoding.UTF8.GetBytes(text));
        await _alice.ExpectAsync("bob", "SENT");
        var msg = await _bob.ExpectAsync("alice", "MSG");
        return msg.Text();
    }

    /// <summary>The very next output on a session: nothing may come before it.</summary>
    private static async Task<string> NextAsync(ClientSession session)
    {
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        var o = await session.Output.ReadAsync(cts.Token);
        return o.Alias + ": " + o.Text();
    }

    [Fact]
    public async Task A_message_delivered_again_after_newer_ones_changes_nothing()
    {
        // Pins rcv_seen (Receiver.Apply, MarkSeen): the copy is not the last message, so only the server
        // message id can tell it is a redelivery.
        var q = await ReceiveQueueAsync(_b, "alice");
        var start = q.Accepted.Count;
        await AliceSendsAsync("one");
        await AliceSendsAsync("two");

        await _relay.PushAsync(q, q.Accepted[start]);
        await _a.SendAsync("s3", "bob", "three"u8.ToArray());

        var next = await NextAsync(_bob);
        Assert.StartsWith("alice: MSG OK", next);
        Assert.EndsWith("\nthree", next);
    }

    [Fact]
    public async Task A_resent_envelope_stored_twice_by_the_relay_is_dropped()
    {
        // Pins the resent-copy check (Receiver.IsResent, chained envelopes): a sender that never saw OK sends
        // the same sealed body again, and the relay keeps both under different ids.
        await AliceSendsAsync("one");
        var q = await ReceiveQueueAsync(_b, "alice");
        var first = q.Accepted[^1];

        await _relay.PushAsync(q, first with { MsgId = [.. first.MsgId.Reverse()] });
        await _a.SendAsync("s2", "bob", "two"u8.ToArray());

        var next = await NextAsync(_bob);
        Assert.StartsWith("alice: MSG OK", next);
        Assert.EndsWith("\ntwo", next);
    }

    [Fact]
    public async Task Every_envelope_of_a_window_sent_again_is_dropped_not_only_the_last()
    {
        // Pins rcv_chain (Receiver.IsResent, StoreTx.ChainHolds): after a lost connection or a crash the sender
        // sends its whole unconfirmed window again, so copies of envelopes before the last one arrive too.
        var q = await ReceiveQueueAsync(_b, "alice");
        var start = q.Accepted.Count;
        for (var i = 1; i <= 4; i++) await AliceSendsAsync("m" + i);

        foreach (var copy in q.Accepted.Skip(start).Take(3).ToList())
        {
            // One at a time, each ACKed before the next: an ACK names no message, so a late one could remove "five".
            var acks = q.Acks;
            await _relay.PushAsync(q, copy with { MsgId = [.. copy.MsgId.Reverse()] });
            await _relay.WaitAsync(() => q.Acks > acks);
        }
        await _a.SendAsync("s5", "bob", "five"u8.ToArray());

        var next = await NextAsync(_bob);
        Assert.StartsWith("alice: MSG OK", next);
        Assert.EndsWith("\nfive", next);
    }

    /// <summary>Bob has "one"; his agent stops; "two" and "three" wait on the relay, in its queue's Messages.</summary>
    private async Task<(ScriptedRelay.RelayQueue Queue, AgentOptions BobOptions)> TwoAndThreeWaitWhileBobIsAwayAsync()
    {
        await AliceSendsAsync("one");
        var q = await ReceiveQueueAsync(_b, "alice");
        var options = await _h.StopAgentAsync(_b);
        await _a.SendAsync("s2", "bob", "two"u8.ToArray());
        await _a.SendAsync("s3", "bob", "three"u8.ToArray());
        await _alice.ExpectAsync("bob", "SENT");
        await _alice.ExpectAsync("bob", "SENT");
        return (q, options);
    }

    /// <summary>Bob's agent back on its store, and a new session of his holding every connection.</summary>
    private async Task<ClientSession> BobComesBackAsync(AgentOptions options)
    {
        _b = await _h.StartAgentAsync(options);
        var bob = _b.Connect("bob again");
        await _b.SubscribeAllAsync(bob);
        return bob;
    }

    /// <summary>The next MSG on "alice" other than "one" (given again: these tests never mark outputs delivered).</summary>
    private static async Task<string> NextNewMsgAsync(ClientSession bob) =>
        (await bob.ExpectAsync(o => o.Alias == "alice" && o.Text().StartsWith("MSG", StringComparison.Ordinal) && !o.Text().EndsWith("\none", StringComparison.Ordinal))).Text();

    [Fact]
    public async Task An_envelope_ahead_of_the_chain_waits_for_the_one_before_it()
    {
        // Pins the hold (Receiver.Apply, rcv_held): with a full queue a window is reordered when SEND k gets
        // QUOTA and k+1 is accepted once the reader freed a place; k comes again after it, then k+1's copy.
        var (q, options) = await TwoAndThreeWaitWhileBobIsAwayAsync();
        var (two, three) = (q.Messages[0], q.Messages[1]);
        q.Messages.Clear();
        q.Messages.AddRange([three, two, three with { MsgId = [.. three.MsgId.Reverse()] }]);

        var bob = await BobComesBackAsync(options);
        foreach (var expected in new[] { "two", "three" })
        {
            var msg = await NextNewMsgAsync(bob);
            Assert.StartsWith("MSG OK", msg);
            Assert.EndsWith("\n" + expected, msg);
        }
        await _a.SendAsync("s4", "bob", "four"u8.ToArray());
        var fourth = await NextNewMsgAsync(bob);
        Assert.StartsWith("MSG OK", fourth);
        Assert.EndsWith("\nfour", fourth);
    }

    [Fact]
    public async Task An_envelope_ahead_of_a_gap_that_never_fills_is_delivered_after_the_hold_limit_with_the_gap_reported()
    {
        // Pins the release of held envelopes (Receiver.ReleaseExpiredAsync): a sender that gave up on a message
        // leaves a real gap, and what was held behind it must not wait for ever.
        var (q, options) = await TwoAndThreeWaitWhileBobIsAwayAsync();
        q.Messages.RemoveAt(0);

        var bob = await BobComesBackAsync(options with { ReorderHoldLimit = TimeSpan.FromMilliseconds(300) });
        var msg = await NextNewMsgAsync(bob);
        Assert.StartsWith("MSG ERR NO_ID", msg);
        Assert.EndsWith("\nthree", msg);
    }

    [Fact]
    public async Task An_envelope_held_when_its_agent_stopped_is_delivered_after_the_restart_once_its_hold_limit_ends()
    {
        // Pins Receiver.ResumeHeldAsync: the hold timer lives in memory, so a restart must start it again from
        // the stored held_at; without it "three" waits for a next message that may never come.
        var (q, options) = await TwoAndThreeWaitWhileBobIsAwayAsync();
        q.Messages.RemoveAt(0);
        _b = await _h.StartAgentAsync(options with { ReorderHoldLimit = TimeSpan.FromHours(1) });
        // "three" is ACKed only after the transaction that held it committed.
        await _relay.WaitAsync(() => q.Messages.Count == 0);
        await _h.StopAgentAsync(_b);

        var bob = await BobComesBackAsync(options with { ReorderHoldLimit = TimeSpan.FromMilliseconds(300) });
        var msg = await NextNewMsgAsync(bob);
        Assert.StartsWith("MSG ERR NO_ID", msg);
        Assert.EndsWith("\nthree", msg);
    }

    [Theory]
    [InlineData(0, "confirmation")]
    [InlineData(1, "HELLO")]
    [InlineData(2, "REPLY")]
    public async Task A_handshake_envelope_delivered_again_is_harmless(int index, string what)
    {
        // Pins the unchained cases of Receiver.IsResent: without them the copy is refused as out of place
        // (ERR AGENT A_PROHIBITED) instead of being recognised.
        var q = await ReceiveQueueAsync(_a, "bob");
        var envelope = q.Accepted[index];

        await _relay.PushAsync(q, envelope with { MsgId = [.. envelope.MsgId.Reverse()] });
        await _b.SendAsync("s1", "alice", Encoding.UTF8.GetBytes("after the " + what));

        var next = await NextAsync(_alice);
        Assert.StartsWith("bob: MSG OK", next);
    }

    /// <summary>Whether the agent has applied the message with this server id (its rcv_seen row).</summary>
    private static Task<bool> AppliedAsync(SmpAgent agent, byte[] msgId) =>
        agent.Store.TransactAsync(tx => tx.Query("SELECT 1 FROM rcv_seen WHERE broker_id = $b", _ => true, ("$b", msgId)).Count > 0);

    [Fact]
    public async Task A_redelivery_racing_the_ack_is_not_acked_a_second_time()
    {
        // Pins AckTracker's last-ACKed check: SMP 0.3's ACK names no message, so a second ACK for a
        // redelivered message removes the one the relay delivered next, before the agent has applied it.
        var q = await ReceiveQueueAsync(_b, "alice");
        var start = q.Accepted.Count;
        var raced = false;
        var removedUnapplied = new List<string>();
        _relay.BeforeAck = async queue =>
        {
            if (queue != q) return true;
            if (!raced)
            {
                // The first ACK waits until "two" is queued behind "one", and a copy of "one" races it.
                raced = true;
                await _relay.WaitAsync(() => q.Messages.Count >= 2);
                await _relay.PushAsync(q, q.Messages[0]);
            }
            if (q.Delivered && !await AppliedAsync(_b, q.Messages[0].MsgId)) removedUnapplied.Add(Convert.ToHexString(q.Messages[0].MsgId));
            return true;
        };

        await _a.SendAsync("s1", "bob", "one"u8.ToArray());
        await _a.SendAsync("s2", "bob", "two"u8.ToArray());
        await _bob.ExpectAsync("alice", "MSG");
        await _bob.ExpectAsync("alice", "MSG");
        await _relay.WaitAsync(() => q.Accepted.Count >= start + 2 && q.Messages.Count == 0);
        await _b.SendAsync("s3", "alice", "sync"u8.ToArray());
        await _alice.ExpectAsync("bob", "MSG");

        Assert.True(raced);
        Assert.Empty(removedUnapplied);
    }

    [Fact]
    public async Task A_message_is_acked_only_after_its_event_is_stored()
    {
        // Pins the order in Receiver.HandleMessageAsync: apply and commit, then ACK.
        var q = await ReceiveQueueAsync(_b, "alice");
        var storedBeforeAck = new List<bool>();
        _relay.BeforeAck = async queue =>
        {
            if (queue == q)
            {
                var events = await _b.Store.TransactAsync(tx => tx.PendingEvents("alice"));
                storedBeforeAck.Add(events.Any(e => Encoding.UTF8.GetString(e.Payload).EndsWith("\nstored first", StringComparison.Ordinal)));
            }
            return true;
        };

        await AliceSendsAsync("stored first");
        await _relay.WaitAsync(() => storedBeforeAck.Count >= 1);

        Assert.Equal([true], storedBeforeAck);
    }
}
