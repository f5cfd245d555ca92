using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

/// <summary>Handshake steps whose answer was lost: the retry meets a relay that already did the step.</summary>
public sealed class HandshakeRecoveryTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private readonly ScriptedRelay _relay = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        await _relay.DisposeAsync();
    }

    [Fact]
    public async Task A_key_whose_answer_was_lost_is_done_when_the_retry_gets_auth()
    {
        // Pins SmpErrorPolicy's "KEY answered AUTH is already done": the retried KEY finds the sender key in
        // place and is refused; read as a failure, the connection would never complete.
        var applied = 0;
        _relay.LoseAnswer = c => c is SmpCommand.Key && Interlocked.Increment(ref applied) == 1;
        var a = await _h.StartAgentAsync("a", _relay.Address);
        var b = await _h.StartAgentAsync("b", _relay.Address);

        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await a.SendAsync("s1", "bob", "after the lost answer"u8.ToArray());
        await alice.ExpectAsync("bob", "SENT");
        var msg = await bob.ExpectAsync("alice", "MSG");

        Assert.EndsWith("\nafter the lost answer", msg.Text());
        // One KEY per queue took effect (the first one's answer lost); the retry was refused, not applied.
        Assert.Equal(2, applied);
    }

    [Fact]
    public async Task A_confirmation_whose_answer_was_lost_is_done_when_the_retry_finds_the_queue_secured()
    {
        // The first unsigned SEND (the joiner's confirmation) is accepted and delivered but its answer lost;
        // its retry is held until the inviter has secured the queue, so it meets AUTH. Pins the "confirmation
        // sent again answered AUTH is already done" rule: read as final, JOIN would end in ERR SMP AUTH.
        var copies = LoseConfirmationAnswer();
        var a = await _h.StartAgentAsync("a", _relay.Address);
        var b = await _h.StartAgentAsync("b", _relay.Address);

        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await b.SendAsync("s1", "alice", "after the lost confirmation answer"u8.ToArray());
        await bob.ExpectAsync("alice", "SENT");
        var msg = await alice.ExpectAsync("bob", "MSG");

        Assert.EndsWith("\nafter the lost confirmation answer", msg.Text());
        Assert.True(copies() >= 2, "the confirmation was sent again after its answer was lost");
    }

    [Fact]
    public async Task A_confirmation_in_flight_when_its_agent_stopped_is_done_when_the_retry_after_restart_finds_the_queue_secured()
    {
        // The joiner stops while its confirmation is at the relay; the relay then accepts and delivers it. Pins
        // the attempt counted before the first try: without it the restarted agent cannot tell its AUTH apart
        // from a dead invitation, and JOIN ends in ERR SMP AUTH.
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var copies = LoseConfirmationAnswer(async () =>
        {
            arrived.TrySetResult();
            await release.Task;
        });
        var a = await _h.StartAgentAsync("a", _relay.Address);
        var b = await _h.StartAgentAsync("b", _relay.Address);
        var alice = a.Connect("alice");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await b.JoinAsync(b.Connect("bob"), "j", "alice", inv, noReply: false);
        await arrived.Task.WaitAsync(TestSupport.Patience);

        var options = await _h.StopAgentAsync(b);
        release.TrySetResult();
        b = await _h.StartAgentAsync(options);
        await alice.ExpectAsync("bob", "CON");
        // Only now has the joiner a queue of its own to subscribe to; its CON waited in the store.
        var bob = b.Connect("bob again");
        await b.SubscribeAsync(bob, "alice");
        await bob.ExpectAsync("alice", "CON");
        await b.SendAsync("s1", "alice", "after the restart"u8.ToArray());
        await bob.ExpectAsync("alice", "SENT");
        Assert.EndsWith("\nafter the restart", (await alice.ExpectAsync("bob", "MSG")).Text());
        Assert.True(copies() >= 2, "the confirmation was sent again after the restart");
    }

    /// <summary>
    /// The relay loses the answer to the joiner's confirmation (the first SEND of all, on the invitation's
    /// queue) and holds each later copy until the inviter has secured that queue, so the copy meets AUTH.
    /// <paramref name="holdFirst"/> holds the first copy before the relay accepts it. Returns how many copies came.
    /// </summary>
    private Func<int> LoseConfirmationAnswer(Func<Task>? holdFirst = null)
    {
        ScriptedRelay.RelayQueue? invitation = null;
        var copies = 0;
        _relay.BeforeSend = async (q, t) =>
        {
            if (t.Signature.Length != 0 || Interlocked.CompareExchange(ref invitation, q, null) is { } first && first != q) return;
            if (Interlocked.Increment(ref copies) > 1) await _relay.WaitAsync(() => q.SenderKey is not null);
            else if (holdFirst is not null) await holdFirst();
        };
        var sends = 0;
        _relay.LoseAnswer = c => c is SmpCommand.Send && Interlocked.Increment(ref sends) == 1;
        return () => Volatile.Read(ref copies);
    }
}
