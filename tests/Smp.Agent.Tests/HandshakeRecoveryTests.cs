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
}
