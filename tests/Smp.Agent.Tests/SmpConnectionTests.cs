using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Smp.Agent.Smp;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent.Tests;

public sealed class SmpConnectionTests
{
    private static readonly byte[] Rid = RandomNumberGenerator.GetBytes(12);

    private static async Task<(FakeSmpServer Server, SmpConnection Connection, RecordingListener Listener)> ConnectAsync(
        Func<FakeSession, SmpTransmission, Task>? handler = null, SmpClientOptions? options = null)
    {
        var server = FakeSmpServer.Start();
        if (handler is not null) server.Handler = handler;
        var listener = new RecordingListener();
        var connection = await SmpConnection.ConnectAsync(server.Address, options ?? TestSupport.FastOptions(), listener);
        return (server, connection, listener);
    }

    [Fact]
    public async Task Concurrent_requests_are_matched_to_their_responses_by_corrId_even_when_answered_out_of_order()
    {
        const int count = 20;
        var held = new List<(FakeSession Session, SmpTransmission T)>();
        var gate = new Lock();
        var (server, connection, _) = await ConnectAsync(async (s, t) =>
        {
            List<(FakeSession, SmpTransmission)>? batch = null;
            lock (gate)
            {
                held.Add((s, t));
                if (held.Count == count) batch = [.. held];
            }
            if (batch is null) return;
            batch.Reverse();
            foreach (var (session, request) in batch) await session.ReplyAsync(request, SmpCommand.OkResponse);
        });
        await using var _ = server;
        await using var __ = connection;

        var queueIds = Enumerable.Range(0, count).Select(i => RandomNumberGenerator.GetBytes(12)).ToArray();
        var results = await Task.WhenAll(queueIds.Select(q => connection.RequestAsync(null, q, new SmpCommand.Send("x"u8.ToArray()))));

        Assert.All(results, r => Assert.IsType<SmpCommand.Ok>(r));
        var corrIds = held.Select(h => Encoding.ASCII.GetString(h.T.CorrId)).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), corrIds);
    }

    [Fact]
    public async Task A_server_that_never_answers_gives_BROKER_TIMEOUT_within_the_request_timeout()
    {
        var timeout = TimeSpan.FromMilliseconds(300);
        var (server, connection, _) = await ConnectAsync(FakeSmpServer.Silent, TestSupport.FastOptions(timeout));
        await using var _ = server;
        await using var __ = connection;

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(null, Rid, new SmpCommand.Send("hi"u8.ToArray())));

        Assert.Equal(SmpClientErrorKind.Timeout, e.Error.Kind);
        Assert.Equal("BROKER TIMEOUT", e.Error.ToWireText());
        Assert.InRange(clock.Elapsed, timeout * 0.9, timeout * 10);
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task A_MSG_answering_SUB_goes_to_the_listener_before_SUB_completes_with_OK()
    {
        var msg = new SmpCommand.Msg([1, 2, 3, 4, 5, 6], DateTimeOffset.Parse("2021-05-15T16:01:53.123Z", System.Globalization.CultureInfo.InvariantCulture), "hello"u8.ToArray());
        var (server, connection, listener) = await ConnectAsync((s, t) => s.ReplyAsync(t, msg));
        await using var _ = server;
        await using var __ = connection;
        using var key = TestSupport.SigningKey();

        var response = await connection.RequestAsync(key, Rid, SmpCommand.SubCommand);

        Assert.IsType<SmpCommand.Ok>(response);
        Assert.True(listener.Pushes.Reader.TryRead(out var push), "the MSG must be handed over before SUB returns");
        Assert.Equal(Rid, push.QueueId);
        var pushed = Assert.IsType<SmpCommand.Msg>(push.Command);
        Assert.Equal("hello"u8.ToArray(), pushed.Body.ToArray());
        Assert.Equal(msg.MsgId, pushed.MsgId);
    }

    [Fact]
    public async Task Pushed_MSG_and_END_reach_the_listener_in_wire_order()
    {
        var (server, connection, listener) = await ConnectAsync();
        await using var _ = server;
        await using var __ = connection;
        var session = await server.Accepted.Reader.NextAsync();

        await session.PushAsync(Rid, new SmpCommand.Msg([9, 9, 9, 9, 9, 9], DateTimeOffset.UnixEpoch, "m"u8.ToArray()));
        await session.PushAsync(Rid, SmpCommand.EndResponse);

        var first = await listener.Pushes.Reader.NextAsync();
        var second = await listener.Pushes.Reader.NextAsync();
        Assert.IsType<SmpCommand.Msg>(first.Command);
        Assert.IsType<SmpCommand.End>(second.Command);
        Assert.Equal(Rid, second.QueueId);
    }

    [Fact]
    public async Task A_block_that_does_not_decrypt_is_reported_and_the_connection_goes_on()
    {
        var (server, connection, listener) = await ConnectAsync();
        await using var _ = server;
        await using var __ = connection;
        var session = await server.Accepted.Reader.NextAsync();

        await session.SendCorruptBlockAsync();
        var error = await listener.Errors.Reader.NextAsync();
        var pong = await connection.RequestAsync(null, default, SmpCommand.PingCommand);

        Assert.Equal("BROKER RESPONSE BLOCK", error.Error.ToWireText());
        Assert.IsType<SmpCommand.Pong>(pong);
    }

    [Fact]
    public async Task An_unparsable_response_to_a_request_is_BROKER_RESPONSE_and_the_connection_goes_on()
    {
        var (server, connection, _) = await ConnectAsync((s, t) => t.Command is SmpCommand.Ping
            ? s.ReplyAsync(t, SmpCommand.PongResponse)
            : s.SendPlaintextAsync(Encoding.ASCII.GetBytes($" {Encoding.ASCII.GetString(t.CorrId)}  BOGUS ")));
        await using var _ = server;
        await using var __ = connection;

        var e = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(null, Rid, new SmpCommand.Send("a"u8.ToArray())));

        Assert.Equal("BROKER RESPONSE CMD SYNTAX", e.Error.ToWireText());
        Assert.IsType<SmpCommand.Pong>(await connection.RequestAsync(null, default, SmpCommand.PingCommand));
    }

    [Fact]
    public async Task An_ERR_with_no_corrId_is_an_unsolicited_error_and_the_request_it_may_concern_times_out()
    {
        var (server, connection, listener) = await ConnectAsync(
            (s, t) => s.SendAsync([], [], new SmpCommand.Err(SmpErrorCode.Block)),
            TestSupport.FastOptions(TimeSpan.FromMilliseconds(300)));
        await using var _ = server;
        await using var __ = connection;

        var e = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(null, Rid, new SmpCommand.Send("a"u8.ToArray())));
        var error = await listener.Errors.Reader.NextAsync();

        Assert.Equal(SmpClientErrorKind.Timeout, e.Error.Kind);
        Assert.Equal("SMP BLOCK", error.Error.ToWireText());
    }

    [Fact]
    public async Task An_ERR_answering_a_request_is_an_SMP_error()
    {
        var (server, connection, _) = await ConnectAsync((s, t) => s.ReplyAsync(t, new SmpCommand.Err(SmpErrorCode.Auth)));
        await using var _ = server;
        await using var __ = connection;
        using var key = TestSupport.SigningKey();

        var e = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(key, Rid, SmpCommand.AckCommand));

        Assert.Equal(SmpClientError.Server(SmpErrorCode.Auth), e.Error);
        Assert.Equal("SMP AUTH", e.Error.ToWireText());
    }

    [Theory]
    [InlineData("IDS")]
    [InlineData("OTHER_QUEUE")]
    [InlineData("PONG")]
    public async Task A_response_of_the_wrong_type_or_for_another_queue_is_BROKER_UNEXPECTED(string answer)
    {
        var (server, connection, _) = await ConnectAsync((s, t) => answer switch
        {
            "IDS" => s.ReplyAsync(t, new SmpCommand.Ids([1], [2])),
            "PONG" => s.ReplyAsync(t, SmpCommand.PongResponse),
            _ => s.SendAsync(t.CorrId, [7, 7, 7], SmpCommand.OkResponse),
        });
        await using var _ = server;
        await using var __ = connection;
        using var key = TestSupport.SigningKey();

        var e = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(key, Rid, SmpCommand.SubCommand));

        Assert.Equal("BROKER UNEXPECTED", e.Error.ToWireText());
    }

    [Fact]
    public async Task Requests_are_signed_over_the_canonical_signed_part_with_the_callers_key()
    {
        var (server, connection, _) = await ConnectAsync();
        await using var _ = server;
        await using var __ = connection;
        using var key = TestSupport.SigningKey();
        using var verifier = RsaPublicKey.FromRsa(key);

        await connection.RequestAsync(key, Rid, SmpCommand.SubCommand);
        await connection.RequestAsync(null, Rid, new SmpCommand.Send("unsigned"u8.ToArray()));

        var sub = (await server.ExpectReceivedAsync(SmpCommandKind.Sub)).Transmission;
        var send = (await server.ExpectReceivedAsync(SmpCommandKind.Send)).Transmission;
        Assert.Equal(128, sub.Signature.Length);
        Assert.True(verifier.Verify(sub.SignedBytes(), sub.Signature));
        Assert.Empty(send.Signature);
    }

    [Fact]
    public async Task A_server_key_that_does_not_match_the_address_hash_is_BROKER_TRANSPORT_BAD_HASH()
    {
        await using var server = FakeSmpServer.Start();
        var wrong = server.Address with { KeyHash = SHA256.HashData("some other key"u8) };

        var e = await Assert.ThrowsAsync<SmpClientException>(() => SmpConnection.ConnectAsync(wrong, TestSupport.FastOptions()));

        Assert.Equal("BROKER TRANSPORT BAD_HASH", e.Error.ToWireText());
    }

    [Fact]
    public async Task Connecting_to_a_port_nobody_listens_on_is_BROKER_NETWORK()
    {
        using var refusing = new PortReservation();
        var port = refusing.Port;

        var e = await Assert.ThrowsAsync<SmpClientException>(() =>
            SmpConnection.ConnectAsync(new SmpServerAddress("127.0.0.1", port, null), TestSupport.FastOptions()));

        Assert.Equal("BROKER NETWORK", e.Error.ToWireText());
    }

    [Fact]
    public async Task A_server_that_accepts_but_never_finishes_the_handshake_is_BROKER_NETWORK_after_the_connect_timeout()
    {
        using var mute = new TcpListener(IPAddress.Loopback, 0);
        mute.Start();
        var port = ((IPEndPoint)mute.LocalEndpoint).Port;
        var options = TestSupport.FastOptions() with { ConnectTimeout = TimeSpan.FromMilliseconds(300) };

        var e = await Assert.ThrowsAsync<SmpClientException>(() =>
            SmpConnection.ConnectAsync(new SmpServerAddress("127.0.0.1", port, null), options));

        Assert.Equal(SmpClientErrorKind.Network, e.Error.Kind);
        mute.Stop();
    }

    [Fact]
    public async Task A_body_whose_MSG_would_overflow_the_servers_block_is_refused_before_sending()
    {
        var (server, connection, _) = await ConnectAsync();
        await using var _ = server;
        await using var __ = connection;

        var e = await Assert.ThrowsAsync<SmpClientException>(() =>
            connection.RequestAsync(null, Rid, new SmpCommand.Send(new byte[connection.MaxBodySize + 1])));
        var ok = await connection.RequestAsync(null, Rid, new SmpCommand.Send(new byte[connection.MaxBodySize]));

        Assert.Equal("CMD LARGE", e.Error.ToWireText());
        Assert.IsType<SmpCommand.Ok>(ok);
        var (_, only) = await server.ExpectReceivedAsync(SmpCommandKind.Send);
        Assert.Equal(connection.MaxBodySize, ((SmpCommand.Send)only.Command!).Body.Length);
    }

    [Fact]
    public void The_largest_body_still_fits_the_MSG_a_server_builds_with_a_long_corrId_and_recipient_id()
    {
        var max = SmpConnection.MaxBodySizeFor(4096);
        var msg = new SmpCommand.Msg(new byte[6], DateTimeOffset.UnixEpoch, new byte[max]);

        var transmission = SmpTransmissionCodec.ToBytes(null, Encoding.ASCII.GetBytes(new string('9', 20)), new byte[24], msg);

        Assert.Equal(3979, max);
        Assert.True(transmission.Length <= 4096 - 17, $"MSG is {transmission.Length} bytes");
    }

    [Fact]
    public async Task Pending_requests_fail_with_BROKER_NETWORK_when_the_server_goes_away()
    {
        var (server, connection, listener) = await ConnectAsync(FakeSmpServer.Silent);
        await using var __ = connection;

        var pending = connection.RequestAsync(null, Rid, new SmpCommand.Send("a"u8.ToArray()));
        await server.ExpectReceivedAsync(SmpCommandKind.Send);
        await server.DisposeAsync();

        var e = await Assert.ThrowsAsync<SmpClientException>(() => pending);
        Assert.Equal("BROKER NETWORK", e.Error.ToWireText());
        Assert.Equal(SmpClientError.Network, await listener.Closed.Reader.NextAsync());
        await connection.Completion.WaitAsync(TestSupport.Patience);
        var after = await Assert.ThrowsAsync<SmpClientException>(() => connection.RequestAsync(null, Rid, SmpCommand.PingCommand));
        Assert.Equal(SmpClientErrorKind.Network, after.Error.Kind);
    }

    [Fact]
    public async Task A_server_that_stops_answering_PING_is_detected_as_dead()
    {
        var options = TestSupport.FastOptions(TimeSpan.FromMilliseconds(200)) with { PingInterval = TimeSpan.FromMilliseconds(100) };
        var (server, connection, listener) = await ConnectAsync(FakeSmpServer.Silent, options);
        await using var _ = server;
        await using var __ = connection;

        var reason = await listener.Closed.Reader.NextAsync();

        Assert.Equal(SmpClientError.Timeout, reason);
        Assert.False(connection.IsOpen);
        Assert.Equal(SmpCommandKind.Ping, (await server.ExpectReceivedAsync(SmpCommandKind.Ping)).Transmission.Command!.Kind);
    }

    [Fact]
    public async Task Disposing_fails_pending_requests_and_tells_the_listener_it_was_on_purpose()
    {
        var (server, connection, listener) = await ConnectAsync(FakeSmpServer.Silent);
        await using var _ = server;

        var pending = connection.RequestAsync(null, Rid, new SmpCommand.Send("a"u8.ToArray()));
        await server.ExpectReceivedAsync(SmpCommandKind.Send);
        await connection.DisposeAsync();

        Assert.Equal(SmpClientErrorKind.Network, (await Assert.ThrowsAsync<SmpClientException>(() => pending)).Error.Kind);
        Assert.Null(await listener.Closed.Reader.NextAsync());
    }

    [Theory]
    [InlineData("1", true, 1L)]
    [InlineData("42", true, 42L)]
    [InlineData("", false, 0L)]
    [InlineData("0", false, 0L)]
    [InlineData("01", false, 0L)]
    [InlineData("-1", false, 0L)]
    [InlineData("1a", false, 0L)]
    [InlineData("99999999999999999999", false, 0L)]
    public void Only_canonical_positive_decimal_corrIds_can_match_a_request(string text, bool ok, long value)
    {
        Assert.Equal(ok, SmpConnection.TryParseCorrId(Encoding.ASCII.GetBytes(text), out var parsed));
        if (ok) Assert.Equal(value, parsed);
    }
}
