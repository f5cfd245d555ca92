using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Connections;
using Smp.Agent.Smp;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

/// <summary>
/// ACKs that fail (agent.md §4): one that never left is sent once the server is up again; one that may have
/// reached the server is never repeated, since repeating it could remove the next message unseen.
/// </summary>
public sealed class AckTrackerTests : IAsyncLifetime
{
    private static readonly byte[] Rid = [7, 7, 7];
    private readonly TcpGate _gate = TcpGate.Start();
    private readonly SmpClientPool _pool = new(TestSupport.FastOptions());
    private readonly System.Security.Cryptography.RSA _key = TestSupport.SigningKey();
    private FakeSmpServer _server = FakeSmpServer.Start();
    private AckTracker _acks = null!;

    private Protocol.Encodings.SmpServerAddress Address => FakeSmpServer.AddressAt(_gate.Port);

    public async Task InitializeAsync()
    {
        _gate.Backend = _server.Port;
        _acks = new AckTracker(_pool, NullLogger.Instance, CancellationToken.None);
        await _pool.SubscribeAsync(Address, Rid, _key);
    }

    public async Task DisposeAsync()
    {
        await _pool.DisposeAsync();
        await _server.DisposeAsync();
        await _gate.DisposeAsync();
        _key.Dispose();
    }

    private async Task ServerGoesAwayAsync()
    {
        _gate.Backend = 0;
        await _server.DisposeAsync();
        await _pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();
    }

    private async Task ServerComesBackAsync()
    {
        _server = FakeSmpServer.Start();
        _gate.Backend = _server.Port;
        await _pool.Events.ExpectAsync<SmpClientEvent.ServerUp>();
    }

    /// <summary>ACKs the current server has received: counted up to a SEND sent after them on the same connection.</summary>
    private async Task<int> AcksReceivedAsync()
    {
        await _pool.SendAsync(Address, [9], null, "sync"u8.ToArray());
        var acks = 0;
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        while (true)
        {
            var (_, t) = await _server.Received.Reader.ReadAsync(cts.Token);
            if (t.Command?.Kind == SmpCommandKind.Send) return acks;
            if (t.Command?.Kind == SmpCommandKind.Ack) acks++;
        }
    }

    [Fact]
    public async Task An_ack_that_could_not_be_sent_is_sent_when_the_server_is_up_again()
    {
        await ServerGoesAwayAsync();

        await _acks.AckAsync(Address, Rid, [1], _key.ExportPkcs8PrivateKey());
        await ServerComesBackAsync();
        await _acks.RetryPendingAsync(Address);

        Assert.Equal(1, await AcksReceivedAsync());
    }

    [Fact]
    public async Task An_ack_whose_answer_was_lost_is_not_sent_again()
    {
        // The server reads the ACK (and may have applied it), then the connection dies before it answers.
        _server.Handler = (s, t) =>
        {
            if (t.Command?.Kind != SmpCommandKind.Ack) return FakeSmpServer.AnswerNormally(s, t);
            s.Abort();
            return Task.CompletedTask;
        };

        await _acks.AckAsync(Address, Rid, [1], _key.ExportPkcs8PrivateKey());
        await ServerGoesAwayAsync();
        await ServerComesBackAsync();
        await _acks.RetryPendingAsync(Address);

        Assert.Equal(0, await AcksReceivedAsync());
    }

    [Fact]
    public async Task A_redelivery_of_the_message_acked_last_is_not_acked_again()
    {
        await _acks.AckAsync(Address, Rid, [1], _key.ExportPkcs8PrivateKey());
        await _acks.AckAsync(Address, Rid, [1], _key.ExportPkcs8PrivateKey());
        await _acks.AckAsync(Address, Rid, [2], _key.ExportPkcs8PrivateKey());

        Assert.Equal(2, await AcksReceivedAsync());
    }
}
