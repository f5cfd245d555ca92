using System.Security.Cryptography;
using System.Text;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;

using static Smp.Server.Tests.Replies;

namespace Smp.Server.Tests;

/// <summary>Every command, reply and credential rule of smp-wire.md §3–5, over loopback.</summary>
public sealed class CommandTests
{
    private static readonly RSA Rk = TestKeys.Recipient;
    private static readonly RSA Sk = TestKeys.Sender;
    private static readonly RSA Wrong = TestKeys.Other;




    [Fact]
    public async Task Ping_is_answered_with_pong_and_must_carry_no_credentials()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await s.ConnectAsync();
        var pong = await c.RequestAsync(null, [], SmpCommand.PingCommand);
        Assert.IsType<SmpCommand.Pong>(pong.Command);
        Assert.Empty(pong.QueueId);
        Assert.Equal(SmpErrorCode.CmdHasAuth, ErrorOf(await c.CommandAsync(Rk, [], SmpCommand.PingCommand)));
        Assert.Equal(SmpErrorCode.CmdHasAuth, ErrorOf(await c.CommandAsync(null, [1, 2, 3], SmpCommand.PingCommand)));
    }

    [Fact]
    public async Task New_answers_ids_with_an_empty_queue_id_and_subscribes_the_creator()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        await using var snd = await s.ConnectAsync();
        var reply = await r.RequestAsync(Rk, [], new SmpCommand.New(SmpRsa.ExportPublicKey(Rk)));
        Assert.Empty(reply.QueueId);
        var ids = Assert.IsType<SmpCommand.Ids>(reply.Command);
        Assert.Equal(12, ids.RecipientId.Length);
        Assert.Equal(12, ids.SenderId.Length);
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, ids.SenderId, Send("hello")));
        var push = await r.PushAsync();
        Assert.Empty(push.CorrId);
        Assert.Equal(ids.RecipientId, push.QueueId);
        Assert.Equal("hello", BodyOf(push));
    }

    [Fact]
    public async Task Messages_are_delivered_one_at_a_time_and_ack_returns_the_next()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        await using var snd = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.Equal(SmpErrorCode.NoMsg, ErrorOf(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand)));
        foreach (var body in new[] { "one", "two", "three" })
            Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send(body)));
        Assert.Equal("one", BodyOf(await r.PushAsync()));
        // Only one message is outstanding until ACK: the next comes as the ACK's reply.
        var second = await r.RequestAsync(Rk, rid, SmpCommand.AckCommand);
        Assert.NotEmpty(second.CorrId);
        Assert.Equal(rid, second.QueueId);
        Assert.Equal("two", BodyOf(second));
        Assert.Equal("three", BodyOf(await r.RequestAsync(Rk, rid, SmpCommand.AckCommand)));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand));
        Assert.Equal(SmpErrorCode.NoMsg, ErrorOf(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand)));
        Assert.False(r.TryPush(out _));
        // Waiting again: the next SEND is pushed.
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("four")));
        Assert.Equal("four", BodyOf(await r.PushAsync()));
    }

    [Fact]
    public async Task Sub_redelivers_an_unacknowledged_message()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        await using var snd = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("again")));
        Assert.Equal("again", BodyOf(await r.PushAsync()));
        var redelivered = await r.RequestAsync(Rk, rid, SmpCommand.SubCommand);
        Assert.Equal("again", BodyOf(redelivered));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.SubCommand));
    }

    [Fact]
    public async Task A_second_subscriber_takes_the_queue_over_and_the_first_gets_END()
    {
        await using var s = await TestServer.StartAsync();
        await using var a = await s.ConnectAsync();
        await using var b = await s.ConnectAsync();
        await using var snd = await s.ConnectAsync();
        var (rid, sid) = await a.CreateQueueAsync(Rk);
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("first")));
        Assert.Equal("first", BodyOf(await a.PushAsync()));

        Assert.Equal("first", BodyOf(await b.RequestAsync(Rk, rid, SmpCommand.SubCommand)));
        var end = await a.PushAsync();
        Assert.IsType<SmpCommand.End>(end.Command);
        Assert.Empty(end.CorrId);
        Assert.Equal(rid, end.QueueId);
        // The old connection lost the delivery; the new one acknowledges it.
        Assert.Equal(SmpErrorCode.NoMsg, ErrorOf(await a.CommandAsync(Rk, rid, SmpCommand.AckCommand)));
        Assert.IsType<SmpCommand.Ok>(await b.CommandAsync(Rk, rid, SmpCommand.AckCommand));
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("second")));
        Assert.Equal("second", BodyOf(await b.PushAsync()));
        Assert.IsType<SmpCommand.Pong>(await a.CommandAsync(null, [], SmpCommand.PingCommand));
        Assert.False(a.TryPush(out _));
    }

    [Fact]
    public async Task Key_secures_the_queue_so_only_signed_sends_by_the_sender_key_pass()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        await using var snd = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await snd.CommandAsync(Sk, sid, Send("signed too early"))));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(Sk))));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await snd.CommandAsync(null, sid, Send("unsigned"))));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await snd.CommandAsync(Wrong, sid, Send("wrong key"))));
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(Sk, sid, Send("signed")));
        Assert.Equal("signed", BodyOf(await r.PushAsync()));
        // A queue is secured once.
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Rk, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(Wrong)))));
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(Sk, sid, Send("still the first key")));
    }

    [Fact]
    public async Task A_key_command_with_a_bad_signature_leaves_the_queue_unsecured()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Wrong, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(Sk)))));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send("still open")));
        await s.RestartAsync();
        await using var again = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Ok>(await again.CommandAsync(null, sid, Send("still open after restart")));
    }

    [Fact]
    public async Task Key_of_a_size_the_protocol_does_not_allow_is_KEY_SIZE_and_non_keys_are_SYNTAX()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        using var odd = RSA.Create(1536);
        Assert.Equal(SmpErrorCode.CmdKeySize, ErrorOf(await r.CommandAsync(Rk, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(odd)))));
        Assert.Equal(SmpErrorCode.CmdSyntax, ErrorOf(await r.CommandAsync(Rk, rid, new SmpCommand.Key([1, 2, 3, 4, 5, 6]))));
        Assert.Equal(SmpErrorCode.CmdSyntax, ErrorOf(await r.CommandAsync(Rk, [], new SmpCommand.New([1, 2, 3, 4, 5, 6]))));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send("unsecured")));
    }

    [Fact]
    public async Task Off_suspends_senders_but_the_recipient_keeps_reading()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send("before")));
        Assert.Equal("before", BodyOf(await r.PushAsync()));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.OffCommand));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.OffCommand));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(null, sid, Send("after"))));
        Assert.Equal("before", BodyOf(await r.RequestAsync(Rk, rid, SmpCommand.SubCommand)));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand));
    }

    [Fact]
    public async Task Del_removes_the_queue_for_both_sides()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send("gone")));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Wrong, rid, SmpCommand.DelCommand)));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.DelCommand));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Rk, rid, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Rk, rid, SmpCommand.DelCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(null, sid, Send("too late"))));
        Assert.Equal(0, s.Server.Stats.StoredMessages);
    }

    [Fact]
    public async Task Credential_rules_give_the_CMD_errors_with_corrId_and_queueId_echoed()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await s.ConnectAsync();
        var key = SmpRsa.ExportPublicKey(Rk);
        Assert.Equal(SmpErrorCode.CmdNoAuth, ErrorOf(await c.CommandAsync(null, [], new SmpCommand.New(key))));
        var hasAuth = await c.RequestAsync(Rk, [9, 9, 9], new SmpCommand.New(key));
        Assert.Equal(SmpErrorCode.CmdHasAuth, ErrorOf(hasAuth.Command!));
        Assert.Equal(new byte[] { 9, 9, 9 }, hasAuth.QueueId);
        foreach (var cmd in new[] { SmpCommand.SubCommand, SmpCommand.AckCommand, SmpCommand.OffCommand, SmpCommand.DelCommand, new SmpCommand.Key(key) })
        {
            Assert.Equal(SmpErrorCode.CmdNoAuth, ErrorOf(await c.CommandAsync(null, [1, 2, 3], cmd)));
            Assert.Equal(SmpErrorCode.CmdNoAuth, ErrorOf(await c.CommandAsync(Rk, [], cmd)));
        }
        Assert.Equal(SmpErrorCode.CmdNoQueue, ErrorOf(await c.CommandAsync(null, [], Send("x"))));
        foreach (var cmd in new SmpCommand[] { SmpCommand.OkResponse, SmpCommand.EndResponse, SmpCommand.PongResponse, new SmpCommand.Ids([1], [2]), new SmpCommand.Err(SmpErrorCode.Auth), new SmpCommand.Msg([1, 2, 3, 4, 5, 6], DateTimeOffset.UnixEpoch, new byte[] { 65 }) })
        {
            var reply = await c.RequestAsync(null, [7], cmd);
            Assert.Equal(SmpErrorCode.CmdProhibited, ErrorOf(reply.Command!));
            Assert.Equal(new byte[] { 7 }, reply.QueueId);
        }
        await c.SendRawAsync(" c1 AQID HELLO ");
        var syntax = await c.ReplyAsync("c1");
        Assert.Equal(SmpErrorCode.CmdSyntax, ErrorOf(syntax.Command!));
        Assert.Equal(new byte[] { 1, 2, 3 }, syntax.QueueId);
        // The command needs its trailing SP (server-ref.md §1 step 4).
        await c.SendRawAsync(" c2  PING");
        Assert.Equal(SmpErrorCode.CmdSyntax, ErrorOf((await c.ReplyAsync("c2")).Command!));
        await c.SendRawAsync(" c3  PING junk after the space ");
        Assert.IsType<SmpCommand.Pong>((await c.ReplyAsync("c3")).Command);
    }

    [Fact]
    public async Task Wrong_signatures_unknown_queues_and_swapped_ids_are_all_AUTH()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, new SmpCommand.Key(SmpRsa.ExportPublicKey(Sk))));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Wrong, rid, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Rk, RandomNumberGenerator.GetBytes(12), SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Rk, sid, SmpCommand.SubCommand)));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Sk, rid, Send("to the recipient id"))));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Sk, RandomNumberGenerator.GetBytes(12), Send("nowhere"))));
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(null, RandomNumberGenerator.GetBytes(12), Send("nowhere"))));
        // A NEW signed by another key than the one it carries.
        Assert.Equal(SmpErrorCode.Auth, ErrorOf(await r.CommandAsync(Wrong, [], new SmpCommand.New(SmpRsa.ExportPublicKey(Rk)))));
        // The signature covers the canonical re-serialised form (server-ref.md §4), not the bytes received:
        // a size sent as "01" verifies against a signature over "SEND 1 x ".
        var signed = Encoding.ASCII.GetBytes("c9 " + Convert.ToBase64String(sid) + " SEND 1 x ");
        var sig = SmpRsa.Sign(Sk, signed);
        await r.SendRawAsync(Convert.ToBase64String(sig) + " c9 " + Convert.ToBase64String(sid) + " SEND 01 x  ");
        Assert.IsType<SmpCommand.Ok>((await r.ReplyAsync("c9")).Command);
    }

    [Fact]
    public async Task A_full_queue_answers_QUOTA_until_a_message_is_acknowledged()
    {
        await using var s = await TestServer.StartAsync(o => o.MaxMessagesPerQueue = 3);
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        for (var i = 0; i < 3; i++) Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send($"m{i}")));
        Assert.Equal(SmpErrorCode.Quota, ErrorOf(await r.CommandAsync(null, sid, Send("over"))));
        Assert.Equal("m0", BodyOf(await r.PushAsync()));
        Assert.Equal("m1", BodyOf(await r.RequestAsync(Rk, rid, SmpCommand.AckCommand)));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send("m3")));
    }

    [Fact]
    public async Task A_send_whose_MSG_would_not_fit_a_block_is_refused_and_the_largest_that_fits_is_delivered()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        var max = r.Transport.MaxTransmission;
        var largest = 0;
        while (Sessions.ClientSession.MsgLength(rid.Length, largest + 1) <= max) largest++;
        Assert.Equal(SmpErrorCode.CmdSyntax, ErrorOf(await r.CommandAsync(null, sid, Send(new string('x', largest + 1)))));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(null, sid, Send(new string('y', largest))));
        var push = await r.PushAsync();
        Assert.Equal(largest, Assert.IsType<SmpCommand.Msg>(push.Command).Body.Length);
        // A redelivery with a long corrId would not fit: it is answered OK and pushed with an empty corrId.
        var corrId = new string('c', 60);
        await r.SendAsync(Rk, corrId, rid, SmpCommand.SubCommand);
        Assert.IsType<SmpCommand.Ok>((await r.ReplyAsync(corrId)).Command);
        Assert.Equal(largest, Assert.IsType<SmpCommand.Msg>((await r.PushAsync()).Command).Body.Length);
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.AckCommand));
    }

    [Fact]
    public void The_computed_MSG_length_matches_the_encoder()
    {
        var msg = new SmpCommand.Msg(new byte[6], DateTimeOffset.UtcNow, new byte[1234]);
        Assert.Equal(Sessions.ClientSession.Encode([], new byte[12], msg).Length, Sessions.ClientSession.MsgLength(12, 1234));
    }

    [Fact]
    public async Task Messages_expire_after_the_configured_time()
    {
        var clock = new ManualClock(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var s = await TestServer.StartAsync(o =>
        {
            o.TimeProvider = clock;
            o.MessageTtl = TimeSpan.FromHours(1);
        });
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        await using var snd = await s.ConnectAsync();
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("old")));
        var push = await r.PushAsync();
        Assert.Equal(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero), Assert.IsType<SmpCommand.Msg>(push.Command).Timestamp);
        clock.Advance(TimeSpan.FromMinutes(30));
        Assert.IsType<SmpCommand.Ok>(await snd.CommandAsync(null, sid, Send("newer")));
        clock.Advance(TimeSpan.FromMinutes(31));
        // The delivered head is kept until its ACK; after that, only unexpired messages remain.
        s.Server.RunMaintenance();
        Assert.Equal("newer", BodyOf(await r.RequestAsync(Rk, rid, SmpCommand.AckCommand)));
        clock.Advance(TimeSpan.FromHours(2));
        Assert.IsType<SmpCommand.Ok>(await r.CommandAsync(Rk, rid, SmpCommand.SubCommand));
        Assert.Equal(1, s.Server.Stats.MessagesExpired);
        Assert.Equal(0, s.Server.Stats.StoredMessages);
    }

    [Fact]
    public async Task Replies_keep_the_order_of_pipelined_commands()
    {
        await using var s = await TestServer.StartAsync();
        await using var r = await s.ConnectAsync();
        var (rid, sid) = await r.CreateQueueAsync(Rk);
        var ids = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var id = r.NextCorrId();
            ids.Add(id);
            await r.SendAsync(null, id, i % 2 == 0 ? sid : [], i % 2 == 0 ? Send($"m{i}") : SmpCommand.PingCommand);
        }
        foreach (var id in ids) Assert.NotNull((await r.ReplyAsync(id)).Command);
        Assert.Equal("m0", BodyOf(await r.PushAsync()));
        for (var i = 2; i < 40; i += 2) Assert.Equal($"m{i}", BodyOf(await r.RequestAsync(Rk, rid, SmpCommand.AckCommand)));
    }
}
