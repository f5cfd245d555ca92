using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Smp;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>Malformed and malicious input gets the protocol's error, and nobody else notices.</summary>
public sealed class HostileInputTests
{
    private static async Task AssertServesAsync(TestServer s)
    {
        await using var c = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Pong>(await c.CommandAsync(null, [], SmpCommand.PingCommand));
    }

    [Fact]
    public async Task A_block_that_does_not_decrypt_gets_ERR_BLOCK_and_the_session_goes_on()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await s.ConnectAsync();
        await c.SendTamperedAsync(" 1  PING ");
        var err = await c.PushAsync();
        Assert.Equal(SmpErrorCode.Block, ErrorOf(err));
        Assert.Empty(err.QueueId);
        Assert.IsType<SmpCommand.Pong>(await c.CommandAsync(null, [], SmpCommand.PingCommand));
    }

    [Fact]
    public async Task Framing_faults_base64_faults_and_signature_sizes_are_ERR_BLOCK()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await s.ConnectAsync();
        // Fewer than three spaces: nothing can be echoed.
        await c.SendRawAsync("no-spaces-at-all");
        var noSplit = await c.PushAsync();
        Assert.Equal(SmpErrorCode.Block, ErrorOf(noSplit));
        // Bad base64 or a signature of a size no key has: the corrId is echoed.
        foreach (var (corr, text) in new[]
        {
            ("b1", "!!!! b1  PING "),
            ("b2", " b2 AQI PING "),
            ("b3", Convert.ToBase64String(new byte[100]) + " b3  PING "),
            ("b4", Convert.ToBase64String(new byte[255]) + " b4 AQID SUB "),
        })
        {
            await c.SendRawAsync(text);
            Assert.Equal(SmpErrorCode.Block, ErrorOf(await c.ReplyAsync(corr)));
        }
        Assert.IsType<SmpCommand.Pong>(await c.CommandAsync(null, [], SmpCommand.PingCommand));
    }

    [Fact]
    public async Task Random_blocks_and_a_truncated_block_do_not_disturb_other_clients()
    {
        await using var s = await TestServer.StartAsync();
        await using var bystander = await s.ConnectAsync();
        var (rid, sid) = await bystander.CreateQueueAsync(TestKeys.Recipient);

        await using (var noisy = await s.ConnectAsync())
        {
            var stream = GetStream(noisy);
            for (var i = 0; i < 3; i++) await stream.WriteAsync(RandomNumberGenerator.GetBytes(4096));
            for (var i = 0; i < 3; i++) Assert.Equal(SmpErrorCode.Block, ErrorOf(await noisy.PushAsync()));
            // Half a block, then the connection goes away.
            await stream.WriteAsync(RandomNumberGenerator.GetBytes(1000));
        }
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(IPAddress.Loopback, s.Server.Port);
            await raw.GetStream().WriteAsync(RandomNumberGenerator.GetBytes(100));
        }
        Assert.IsType<SmpCommand.Ok>(await bystander.CommandAsync(null, sid, new SmpCommand.Send("still fine"u8.ToArray())));
        Assert.IsType<SmpCommand.Msg>((await bystander.PushAsync()).Command);
        await AssertServesAsync(s);
    }

    [Fact]
    public async Task Handshake_keys_that_do_not_decrypt_close_the_connection()
    {
        await using var s = await TestServer.StartAsync();
        using var raw = new TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, s.Server.Port);
        var stream = raw.GetStream();
        var header = new byte[8];
        await stream.ReadExactlyAsync(header);
        var keyLength = (header[6] << 8) | header[7];
        await stream.ReadExactlyAsync(new byte[keyLength]);
        await stream.WriteAsync(RandomNumberGenerator.GetBytes(256));
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        Assert.Equal(0, await stream.ReadAsync(new byte[16], cts.Token));
        await AssertServesAsync(s);
    }

    [Fact]
    public async Task A_client_that_never_finishes_the_handshake_is_dropped_and_does_not_block_others()
    {
        await using var s = await TestServer.StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(3));
        using var silent = new TcpClient();
        await silent.ConnectAsync(IPAddress.Loopback, s.Server.Port);
        await AssertServesAsync(s);
        var stream = silent.GetStream();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        // The server header arrives, then the server closes the connection.
        while (await stream.ReadAsync(buffer, cts.Token) > 0)
        {
        }
        Assert.False(cts.IsCancellationRequested);
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_disconnected_and_others_are_unaffected()
    {
        await using var s = await TestServer.StartAsync(o =>
        {
            o.SendQueueCapacity = 8;
            o.SocketSendBufferSize = 4096;
        });
        // The stalled client owns many queues, then reads nothing more while messages for them arrive.
        var stalled = await TestClient.ConnectAsync(s.Server, receiveBuffer: 4096);
        var sids = new List<byte[]>();
        for (var i = 0; i < 64; i++) sids.Add((await stalled.CreateQueueAsync(TestKeys.Recipient)).Sid);
        stalled.PauseReading();
        await using var healthy = await s.ConnectAsync();
        var (rid, sid) = await healthy.CreateQueueAsync(TestKeys.Recipient);
        foreach (var q in sids) Assert.IsType<SmpCommand.Ok>(await healthy.CommandAsync(null, q, new SmpCommand.Send(new byte[3000])));
        Assert.IsType<SmpCommand.Ok>(await healthy.CommandAsync(null, sid, new SmpCommand.Send("mine"u8.ToArray())));
        Assert.IsType<SmpCommand.Msg>((await healthy.PushAsync()).Command);
        using var deadline = new CancellationTokenSource(TestClient.Timeout);
        while (s.Server.Stats.Connections > 1) await Task.Delay(10, deadline.Token);
        await stalled.DisposeAsync();
        await AssertServesAsync(s);
    }

    [Fact]
    public async Task A_client_that_floods_commands_and_never_reads_the_replies_is_disconnected_at_the_write_timeout()
    {
        // Its replies fill its queue and then the socket: the write timeout ends the session, and only its.
        await using var s = await TestServer.StartAsync(o =>
        {
            o.SocketSendBufferSize = 4096;
            o.WriteTimeout = TimeSpan.FromSeconds(1);
        });
        var stalled = await TestClient.ConnectAsync(s.Server, receiveBuffer: 4096);
        stalled.PauseReading();
        var flood = Task.Run(async () =>
        {
            for (var i = 0; i < 400; i++) await stalled.SendAsync(null, stalled.NextCorrId(), [], SmpCommand.PingCommand);
        });
        await using var healthy = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Pong>(await healthy.CommandAsync(null, [], SmpCommand.PingCommand));

        using var deadline = new CancellationTokenSource(TestClient.Timeout);
        while (s.Server.Stats.Connections > 1) await Task.Delay(10, deadline.Token);
        try
        {
            // All written before the close, or cut off by it: either way it ends.
            await flood.WaitAsync(deadline.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or Smp.Protocol.Transport.SmpTransportException)
        {
        }
        await stalled.DisposeAsync();
        await AssertServesAsync(s);
    }

    private static NetworkStream GetStream(TestClient c) =>
        (NetworkStream)typeof(Smp.Protocol.Transport.SmpTransport)
            .GetField("_stream", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .GetValue(c.Transport)!;
}
