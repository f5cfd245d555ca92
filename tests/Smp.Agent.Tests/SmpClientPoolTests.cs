using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Smp.Agent.Smp;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

public sealed class SmpClientPoolTests
{
    [Fact]
    public async Task Concurrent_first_calls_to_one_server_share_a_single_connection()
    {
        await using var server = FakeSmpServer.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());

        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => pool.SendAsync(server.Address, [1, 2, 3], null, "x"u8.ToArray())));

        Assert.Equal(1, server.Accepted.Reader.Count);
    }

    [Fact]
    public async Task Creating_a_queue_returns_its_ids_and_records_the_subscription_the_server_made()
    {
        await using var server = FakeSmpServer.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();

        var ids = await pool.CreateQueueAsync(server.Address, key);

        var (_, t) = await server.ExpectReceivedAsync(SmpCommandKind.New);
        Assert.Equal(12, ids.RecipientId.Length);
        Assert.Equal(12, ids.SenderId.Length);
        Assert.Equal(SmpRsa.ExportPublicKey(key), ((SmpCommand.New)t.Command!).RecipientKey);
        Assert.Empty(t.QueueId);
        Assert.True(pool.IsSubscribed(server.Address, ids.RecipientId));
    }

    [Fact]
    public async Task A_message_answering_SUB_is_an_event_before_SubscribeAsync_returns()
    {
        await using var server = FakeSmpServer.Start();
        server.Handler = (s, t) => t.Command is SmpCommand.Sub
            ? s.ReplyAsync(t, new SmpCommand.Msg([1, 1, 1, 1, 1, 1], DateTimeOffset.UnixEpoch, "waiting"u8.ToArray()))
            : FakeSmpServer.AnswerNormally(s, t);
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();
        byte[] rid = [5, 5, 5, 5];

        await pool.SubscribeAsync(server.Address, rid, key);

        Assert.True(pool.Events.TryRead(out var e));
        var message = Assert.IsType<SmpClientEvent.Message>(e);
        Assert.Equal(rid, message.RecipientId);
        Assert.Equal(server.Address, message.Server);
        Assert.Equal("waiting"u8.ToArray(), message.Body.ToArray());
        Assert.False(pool.Events.TryRead(out _), "each MSG is delivered once");
    }

    [Fact]
    public async Task END_ends_the_subscription_and_is_reported()
    {
        await using var server = FakeSmpServer.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();
        byte[] rid = [6, 6, 6];
        await pool.SubscribeAsync(server.Address, rid, key);
        var session = await server.Accepted.Reader.NextAsync();

        await session.PushAsync(rid, SmpCommand.EndResponse);

        var ended = await pool.Events.ExpectAsync<SmpClientEvent.SubscriptionEnded>();
        Assert.Equal(rid, ended.RecipientId);
        Assert.False(pool.IsSubscribed(server.Address, rid));
    }

    [Fact]
    public async Task A_SUB_the_server_refuses_is_an_SMP_error_and_is_not_recorded()
    {
        await using var server = FakeSmpServer.Start();
        server.Handler = (s, t) => s.ReplyAsync(t, new SmpCommand.Err(SmpErrorCode.Auth));
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();

        var e = await Assert.ThrowsAsync<SmpClientException>(() => pool.SubscribeAsync(server.Address, [1], key));

        Assert.Equal("SMP AUTH", e.Error.ToWireText());
        Assert.False(pool.IsSubscribed(server.Address, [1]));
    }

    [Fact]
    public async Task Recipient_commands_carry_the_queue_id_and_a_valid_signature()
    {
        await using var server = FakeSmpServer.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();
        using var sender = TestSupport.SigningKey();
        using var verifier = RsaPublicKey.FromRsa(key);
        byte[] rid = [3, 3, 3];

        await pool.SecureQueueAsync(server.Address, rid, key, SmpRsa.ExportPublicKey(sender));
        await pool.AckAsync(server.Address, rid, key);
        await pool.SuspendAsync(server.Address, rid, key);
        await pool.DeleteAsync(server.Address, rid, key);

        foreach (var kind in new[] { SmpCommandKind.Key, SmpCommandKind.Ack, SmpCommandKind.Off, SmpCommandKind.Del })
        {
            var (_, t) = await server.ExpectReceivedAsync(kind);
            Assert.Equal(rid, t.QueueId);
            Assert.True(verifier.Verify(t.SignedBytes(), t.Signature), $"{kind} signature");
        }
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_without_touching_the_network()
    {
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var nowhere = new Protocol.Encodings.SmpServerAddress("127.0.0.1", 1, null);

        var e = await Assert.ThrowsAsync<SmpClientException>(() =>
            pool.SendAsync(nowhere, [1], null, new byte[SmpClientPool.MaxBodySize + 1]));

        Assert.Equal(SmpClientErrorKind.Large, e.Error.Kind);
    }

    [Fact]
    public async Task A_server_with_the_wrong_key_is_BROKER_TRANSPORT_BAD_HASH()
    {
        await using var server = FakeSmpServer.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var impostor = server.Address with { KeyHash = SHA256.HashData("not the server"u8) };

        var e = await Assert.ThrowsAsync<SmpClientException>(() => pool.SendAsync(impostor, [1], null, "x"u8.ToArray()));

        Assert.Equal("BROKER TRANSPORT BAD_HASH", e.Error.ToWireText());
    }

    [Fact]
    public async Task A_first_connection_that_fails_is_BROKER_NETWORK_and_the_next_call_tries_again()
    {
        await using var gate = TcpGate.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var address = FakeSmpServer.AddressAt(gate.Port);

        var e = await Assert.ThrowsAsync<SmpClientException>(() => pool.SendAsync(address, [1], null, "x"u8.ToArray()));
        await using var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        await pool.SendAsync(address, [1], null, "x"u8.ToArray());

        Assert.Equal("BROKER NETWORK", e.Error.ToWireText());
        Assert.False(pool.Events.TryRead(out _), "a connection never made is not a server going down");
    }

    [Fact]
    public async Task A_SUB_to_a_server_that_cannot_be_reached_yet_is_made_by_the_pool_once_it_can()
    {
        // An agent starting while its server is down: nothing else would ever send these SUBs.
        await using var gate = TcpGate.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var address = FakeSmpServer.AddressAt(gate.Port);
        using var key = TestSupport.SigningKey();
        byte[] rid = [3, 3, 3, 3];

        var e = await Assert.ThrowsAsync<SmpClientException>(() => pool.SubscribeAsync(address, rid, key));
        await pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();
        await using var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>();

        Assert.Equal("BROKER NETWORK", e.Error.ToWireText());
        var (_, sub) = await server.ExpectReceivedAsync(SmpCommandKind.Sub);
        Assert.Equal(rid, sub.QueueId);
        using var verifier = RsaPublicKey.FromRsa(key);
        Assert.True(verifier.Verify(sub.SignedBytes(), sub.Signature));
        Assert.True(pool.IsSubscribed(address, rid));
    }

    /// <summary>A queue made through <paramref name="gate"/> on a server that then went away (ServerDown read).</summary>
    private static async Task<(SmpServerAddress Address, SmpQueueIds Ids, RSA Key)> QueueOnAServerThatWentDownAsync(TcpGate gate, SmpClientPool pool)
    {
        var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        var address = FakeSmpServer.AddressAt(gate.Port);
        var key = TestSupport.SigningKey();
        var ids = await pool.CreateQueueAsync(address, key);
        gate.Backend = 0;
        await server.DisposeAsync();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();
        return (address, ids, key);
    }

    /// <summary>The queue ids (b64) of the next <paramref name="count"/> SUBs <paramref name="server"/> receives.</summary>
    private static async Task<HashSet<string>> SubscribedAsync(FakeSmpServer server, int count)
    {
        var queues = new HashSet<string>();
        for (var i = 0; i < count; i++) queues.Add(Convert.ToBase64String((await server.ExpectReceivedAsync(SmpCommandKind.Sub)).Item2.QueueId));
        return queues;
    }

    [Fact]
    public async Task A_SUB_made_while_the_server_is_down_is_sent_when_it_comes_back()
    {
        await using var gate = TcpGate.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var (address, _, created) = await QueueOnAServerThatWentDownAsync(gate, pool);
        using var queueKey = created;

        using var key = TestSupport.SigningKey();
        byte[] rid = [4, 4, 4, 4];
        await Assert.ThrowsAsync<SmpClientException>(() => pool.SubscribeAsync(address, rid, key));
        await using var again = FakeSmpServer.Start();
        gate.Backend = again.Port;
        await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>();

        Assert.Contains(Convert.ToBase64String(rid), await SubscribedAsync(again, 2));
    }

    [Fact]
    public async Task A_SUB_made_while_the_pool_is_resubscribing_is_sent_before_the_server_counts_as_up()
    {
        await using var gate = TcpGate.Start();
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        var (address, ids, created) = await QueueOnAServerThatWentDownAsync(gate, pool);
        using var queueKey = created;

        // The server that comes back holds its answer to the first re-subscription...
        var firstSub = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var again = FakeSmpServer.Start();
        again.Handler = async (session, t) =>
        {
            if (t.Command is SmpCommand.Sub && t.QueueId.AsSpan().SequenceEqual(ids.RecipientId))
            {
                firstSub.TrySetResult();
                await release.Task;
            }
            await FakeSmpServer.AnswerNormally(session, t);
        };
        gate.Backend = again.Port;
        await firstSub.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // ...while a new SUB is recorded (the server still counts as down, so the call fails at once).
        using var key = TestSupport.SigningKey();
        byte[] rid = [5, 5, 5, 5];
        await Assert.ThrowsAsync<SmpClientException>(() => pool.SubscribeAsync(address, rid, key));
        release.SetResult();

        await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>();
        Assert.Contains(Convert.ToBase64String(rid), await SubscribedAsync(again, 2));
    }

    [Fact]
    public async Task After_the_server_goes_away_and_comes_back_the_pool_reports_down_then_up_and_subscribes_again()
    {
        await using var gate = TcpGate.Start();
        var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        var address = FakeSmpServer.AddressAt(gate.Port);
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var created = TestSupport.SigningKey();
        using var subscribed = TestSupport.SigningKey();
        var ids = await pool.CreateQueueAsync(address, created);
        byte[] rid2 = [2, 2, 2, 2];
        await pool.SubscribeAsync(address, rid2, subscribed);

        gate.Backend = 0;
        await server.DisposeAsync();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();
        var whileDown = await Assert.ThrowsAsync<SmpClientException>(() => pool.SendAsync(address, ids.SenderId, null, "x"u8.ToArray()));

        await using var again = FakeSmpServer.Start();
        gate.Backend = again.Port;
        var skipped = new List<SmpClientEvent>();
        var up = await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>(skipped);

        Assert.Equal("BROKER NETWORK", whileDown.Error.ToWireText());
        Assert.Equal(address, up.Server);
        Assert.Empty(skipped);
        var resubscribed = new Dictionary<string, SmpTransmission>();
        for (var i = 0; i < 2; i++)
        {
            var (_, t) = await again.ExpectReceivedAsync(SmpCommandKind.Sub);
            resubscribed[Convert.ToBase64String(t.QueueId)] = t;
        }
        using var v1 = RsaPublicKey.FromRsa(created);
        using var v2 = RsaPublicKey.FromRsa(subscribed);
        var sub1 = resubscribed[Convert.ToBase64String(ids.RecipientId)];
        var sub2 = resubscribed[Convert.ToBase64String(rid2)];
        Assert.True(v1.Verify(sub1.SignedBytes(), sub1.Signature));
        Assert.True(v2.Verify(sub2.SignedBytes(), sub2.Signature));
        await pool.SendAsync(address, ids.SenderId, null, "back"u8.ToArray());
        Assert.Equal(1, again.Accepted.Reader.Count);
    }

    [Fact]
    public async Task A_resubscription_the_server_refuses_is_reported_and_dropped_while_the_others_come_back()
    {
        await using var gate = TcpGate.Start();
        var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        var address = FakeSmpServer.AddressAt(gate.Port);
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();
        byte[] gone = [1, 1, 1];
        byte[] kept = [2, 2, 2];
        await pool.SubscribeAsync(address, gone, key);
        await pool.SubscribeAsync(address, kept, key);

        gate.Backend = 0;
        await server.DisposeAsync();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();
        await using var again = FakeSmpServer.Start();
        gate.Backend = again.Port;
        again.Handler = (s, t) => t.QueueId.AsSpan().SequenceEqual(gone)
            ? s.ReplyAsync(t, new SmpCommand.Err(SmpErrorCode.Auth))
            : FakeSmpServer.AnswerNormally(s, t);
        var skipped = new List<SmpClientEvent>();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>(skipped);

        var error = Assert.IsType<SmpClientEvent.Error>(Assert.Single(skipped));
        Assert.Equal(gone, error.QueueId);
        Assert.Equal("SMP AUTH", error.ClientError.ToWireText());
        Assert.False(pool.IsSubscribed(address, gone));
        Assert.True(pool.IsSubscribed(address, kept));
    }

    [Fact]
    public async Task Reconnecting_keeps_trying_while_the_server_stays_away_and_reports_down_only_once()
    {
        await using var gate = TcpGate.Start();
        var server = FakeSmpServer.Start();
        gate.Backend = server.Port;
        var address = FakeSmpServer.AddressAt(gate.Port);
        await using var pool = new SmpClientPool(TestSupport.FastOptions());
        using var key = TestSupport.SigningKey();
        await pool.SubscribeAsync(address, [4], key);
        gate.Backend = 0;
        await server.DisposeAsync();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerDown>();

        // Attempts keep failing (connection refused) until the server is back; none of them is a new ServerDown.
        var refused = await Assert.ThrowsAsync<SmpClientException>(() => pool.SendAsync(address, [4], null, "x"u8.ToArray()));
        await using var again = FakeSmpServer.Start();
        gate.Backend = again.Port;
        var skipped = new List<SmpClientEvent>();
        await pool.Events.ExpectAsync<SmpClientEvent.ServerUp>(skipped);

        Assert.Equal(SmpClientErrorKind.Network, refused.Error.Kind);
        Assert.DoesNotContain(skipped, e => e is SmpClientEvent.ServerDown);
    }

    [Fact]
    public async Task Disposing_fails_pending_calls_completes_the_events_and_refuses_new_calls()
    {
        await using var server = FakeSmpServer.Start();
        server.Handler = FakeSmpServer.Silent;
        var pool = new SmpClientPool(TestSupport.FastOptions());
        var pending = pool.SendAsync(server.Address, [1], null, "x"u8.ToArray());
        await server.ExpectReceivedAsync(SmpCommandKind.Send);

        await pool.DisposeAsync();

        Assert.Equal(SmpClientErrorKind.Network, (await Assert.ThrowsAsync<SmpClientException>(() => pending)).Error.Kind);
        await pool.Events.Completion.WaitAsync(TestSupport.Patience);
        Assert.False(pool.Events.TryRead(out _), "disposing is not a server going down");
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.SendAsync(server.Address, [1], null, "x"u8.ToArray()));
    }
}
