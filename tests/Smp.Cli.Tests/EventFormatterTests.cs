using System.Text;
using Smp.Cli.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Tests;


public sealed class EventFormatterTests
{
    private static readonly DateTimeOffset Ts = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private static readonly SmpServerAddress Server = new("relay.example", 5223, null);

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static AgentCommand.Msg Msg(string body, MsgIntegrity? integrity = null) =>
        new(integrity ?? MsgIntegrity.Ok, 3, Ts, [1, 2, 3], Ts, 1, Ts, Utf8(body));

    private static AgentCommand.GMsg GMsg(string body, MsgIntegrity? integrity = null) =>
        new("bob", integrity ?? MsgIntegrity.Ok, 1, Ts, Utf8(body));

    private static string[] Notify(string alias, AgentCommand command) =>
        EventFormatter.Format(new AgentTransmission("", alias, command), null).Select(l => l.Text).ToArray();

    private static string[] Answer(string alias, AgentCommand answer, PendingCommand pending, string corrId = "7") =>
        EventFormatter.Format(new AgentTransmission(corrId, alias, answer), pending).Select(l => l.Text).ToArray();

    public static TheoryData<AgentCommand, string, string> Notifications => new()
    {
        { Msg("hello"), "bob", "[bob] hello" },
        { GMsg("hi"), "team", "[team] bob: hi" },
        { new AgentCommand.Con(), "bob", "* connected to bob; @bob <text> sends a message" },
        { new AgentCommand.End(), "bob", "! another client of the agent took over bob; /sub bob takes it back" },
        { new AgentCommand.Down(Server), "", "! the agent lost its server relay.example:5223; it reconnects by itself" },
        { new AgentCommand.Up(Server), "", "* the agent is back on server relay.example:5223" },
        { new AgentCommand.GCon("bob"), "team", "* bob is connected in team" },
        { new AgentCommand.GAll("bob"), "team", "* team: every introduction for bob's join is done" },
        { new AgentCommand.GLeft("bob"), "team", "* bob left team" },
        { new AgentCommand.GMDeleted("bob"), "team", "* bob is no longer in team (removed)" },
        { new AgentCommand.GRemoved("alice"), "team", "! alice removed you from team" },
        { new AgentCommand.GEmpty(), "team", "* team: no other member is connected any more" },
        { new AgentCommand.GDeleted("alice"), "team", "! alice deleted group team" },
        { new AgentCommand.GRejected("bob"), "team", "* bob declined the invitation to team" },
        { new AgentCommand.GMem("bob", [1], GroupMemberStatus.Connected), "team", "  team: bob  connected" },
        { new AgentCommand.GMFailed("carol", GroupAddErrorReason.Timeout), "team", "! team: could not connect to carol (the introduction timed out); it stays unconnected" },
        { new AgentCommand.Err(AgentError.Of(AgentErrorCode.AgentProhibited)), "team", "! team: a peer sent something not allowed now (AGENT A_PROHIBITED)" },
        { new AgentCommand.Err(AgentError.Of(AgentErrorCode.CmdSyntax)), "", "! the agent reports: the agent did not understand the command (CMD SYNTAX)" },
        { new AgentCommand.Ok(), "bob", "< bob OK" },
    };

    [Theory]
    [MemberData(nameof(Notifications))]
    public void Each_notification_reads_as_a_sentence(AgentCommand command, string alias, string expected) =>
        Assert.Equal(expected, Notify(alias, command)[0]);

    [Fact]
    public void A_group_invitation_shows_the_info_and_the_commands_to_answer_it()
    {
        var lines = Notify("alice", new AgentCommand.GInv([1, 2, 3], Utf8("The Team")));
        Assert.Equal("* alice invites you to a group: \"The Team\"", lines[0]);
        Assert.Equal("  /join AQID [name for the group] accepts, /reject alice AQID declines", lines[1]);
    }

    [Theory]
    [InlineData(MsgIntegrityKind.Duplicate, "it repeats the previous message (ERR DUPLICATE)")]
    [InlineData(MsgIntegrityKind.Hash, "hash mismatch")]
    [InlineData(MsgIntegrityKind.Id, "older than the last one")]
    [InlineData(MsgIntegrityKind.NoId, "messages 2 to 4 before it are missing (ERR NO_ID 2 4)")]
    public void Integrity_problems_are_shown_as_warnings_after_the_message(MsgIntegrityKind kind, string expected)
    {
        var integrity = kind switch
        {
            MsgIntegrityKind.Duplicate => MsgIntegrity.Duplicate,
            MsgIntegrityKind.Hash => MsgIntegrity.Hash,
            MsgIntegrityKind.Id => MsgIntegrity.Id(1),
            _ => MsgIntegrity.NoId(2, 4),
        };
        foreach (var (alias, command, what) in new (string, AgentCommand, string)[]
                 { ("bob", Msg("x", integrity), "message from bob"), ("team", GMsg("x", integrity), "message from bob in team") })
        {
            var lines = EventFormatter.Format(new AgentTransmission("", alias, command), null);
            Assert.Equal(2, lines.Count);
            Assert.Equal(LineStyle.Warning, lines[1].Style);
            Assert.StartsWith($"! integrity warning on the {what}: ", lines[1].Text, StringComparison.Ordinal);
            Assert.Contains(expected, lines[1].Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_message_with_escape_sequences_cannot_drive_the_terminal()
    {
        var lines = Notify("bob", Msg("\u001b]0;owned\u0007\u001b[2Jhi\u009b"));
        Assert.Equal(@"[bob] \x1B]0;owned\x07\x1B[2Jhi\x9B", lines[0]);
    }

    [Fact]
    public void A_multi_line_message_is_indented_under_its_sender()
    {
        Assert.Equal(["[bob] one", "      two", "      three"], Notify("bob", Msg("one\r\ntwo\nthree")));
        Assert.Equal(["[team] bob: a", "            b"], Notify("team", GMsg("a\nb")));
    }

    [Fact]
    public void Invalid_UTF8_in_a_body_is_replaced_not_fatal() =>
        Assert.Equal("[bob] a\uFFFDb", EventFormatter.Format(new AgentTransmission("", "bob",
            new AgentCommand.Msg(MsgIntegrity.Ok, 1, Ts, [1], Ts, 1, Ts, new byte[] { (byte)'a', 0xff, (byte)'b' })), null)[0].Text);

    [Fact]
    public void An_unreadable_transmission_from_the_agent_is_a_warning()
    {
        var line = Assert.Single(EventFormatter.Format(new AgentTransmission("", "x", null, AgentError.Of(AgentErrorCode.CmdSyntax)), null));
        Assert.Equal(LineStyle.Warning, line.Style);
        Assert.Contains("unreadable", line.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Answers_are_tied_to_the_command_that_asked()
    {
        Assert.True(SmpQueueInfo.TryParse("smp::localhost:5223::3Q2+Ag==::rsa:MIIBoDANBgkqhkiG9w0BAQEFAAOCAY0AMIIBiAKCAYEAyrpt+Q==", out var queue));
        var inv = Answer("bob", new AgentCommand.Inv(queue!), new PendingCommand("bob", new AgentCommand.New(), "/invite bob"));
        Assert.StartsWith("* invitation for bob", inv[0], StringComparison.Ordinal);
        Assert.Equal(queue!.ToString(), inv[1]);

        Assert.Equal("[to bob] hello (sent)", Answer("bob", new AgentCommand.Sent(4), new PendingCommand("bob", new AgentCommand.Send(Utf8("hello")), "message to bob")).Single());
        Assert.Equal("[team] you: hi", Answer("team", new AgentCommand.GSent([1]), new PendingCommand("team", new AgentCommand.GSend(Utf8("hi")), "message to team")).Single());
        Assert.Equal("! message to bob: no such contact (CONN UNKNOWN)",
            Answer("bob", new AgentCommand.Err(AgentError.Of(AgentErrorCode.ConnUnknown)), new PendingCommand("bob", new AgentCommand.Send(Utf8("x")), "message to bob")).Single());
    }

    public static TheoryData<AgentCommand, string, string> Oks => new()
    {
        { new AgentCommand.SubAll(), "bob", "* listening to bob" },
        { new AgentCommand.SubAll(), "", "* subscribed (no contacts or groups yet)" },
        { new AgentCommand.Sub(), "bob", "* listening to bob (another client of the agent gets END)" },
        { new AgentCommand.Off(), "bob", "* bob can no longer send to you" },
        { new AgentCommand.Del(), "bob", "* deleted bob" },
        { new AgentCommand.GNew(Utf8("t")), "team", "* created group team; /add team <contact> invites someone" },
        { new AgentCommand.GAdd("bob"), "team", "* invited bob to team" },
        { new AgentCommand.GJoin([1]), "team", "* joining group team" },
        { new AgentCommand.GReject([1]), "alice", "* declined the invitation from alice" },
        { new AgentCommand.GLeave(), "team", "* you left team" },
        { new AgentCommand.GMDel("bob"), "team", "* removed bob from team" },
        { new AgentCommand.GDel(), "team", "* deleted group team" },
        { new AgentCommand.GMembers(), "team", "* team has no other members" },
    };

    [Theory]
    [MemberData(nameof(Oks))]
    public void Each_OK_says_what_was_done(AgentCommand command, string alias, string expected) =>
        Assert.Equal(expected, Answer(alias, new AgentCommand.Ok(), new PendingCommand(alias, command, "label")).Single());

    [Fact]
    public void Members_who_left_or_were_removed_are_listed_but_not_counted_as_members()
    {
        var p = new PendingCommand("team", new AgentCommand.GMembers(), "/members team");
        Answer("team", new AgentCommand.GMem("bob", [1], GroupMemberStatus.Connected), p);
        Assert.Equal("  - carol  left, no longer a member", Answer("team", new AgentCommand.GMem("carol", [2], GroupMemberStatus.Left), p).Single());
        Answer("team", new AgentCommand.GMem("dave", [3], GroupMemberStatus.Removed), p);
        Assert.Equal("  - erin  never connected (its introduction failed), no longer a member", Answer("team", new AgentCommand.GMem("erin", [4], GroupMemberStatus.Failed), p).Single());
        Assert.Equal("* team: 1 member besides you (2 left or removed)", Answer("team", new AgentCommand.Ok(), p).Single());

        var alone = new PendingCommand("team", new AgentCommand.GMembers(), "/members team");
        Answer("team", new AgentCommand.GMem("carol", [2], GroupMemberStatus.Left), alone);
        Assert.Equal("* team has no other members (1 left or removed)", Answer("team", new AgentCommand.Ok(), alone).Single());
    }

    [Fact]
    public void Members_are_listed_then_counted()
    {
        var p = new PendingCommand("team", new AgentCommand.GMembers(), "/members team");
        Assert.Equal("  + bob  connected", Answer("team", new AgentCommand.GMem("bob", [1], GroupMemberStatus.Connected), p).Single());
        Assert.Equal("  + (a member not yet connected to you)  joining", Answer("team", new AgentCommand.GMem("", [], GroupMemberStatus.Joining), p).Single());
        Assert.False(p.IsFinishedBy(new AgentCommand.GMem("x", [], GroupMemberStatus.Left)));
        Assert.True(p.IsFinishedBy(new AgentCommand.Ok()));
        Assert.Equal("* team: 2 members besides you", Answer("team", new AgentCommand.Ok(), p).Single());
    }

    [Fact]
    public void Answers_to_raw_lines_are_shown_as_protocol_text()
    {
        var raw = new PendingCommand("bob", null, "raw command");
        Assert.Equal("< bob SENT 5", Answer("bob", new AgentCommand.Sent(5), raw).Single());
        Assert.Equal("< bob ERR CMD SYNTAX", Answer("bob", new AgentCommand.Err(AgentError.Of(AgentErrorCode.CmdSyntax)), raw).Single());
        Assert.Equal(@"< MSG OK R=3,2026-01-02T03:04:05.000Z B=AQID,2026-01-02T03:04:05.000Z S=1,2026-01-02T03:04:05.000Z 2\nhi",
            Answer("", Msg("hi"), raw).Single());
    }

    [Fact]
    public void A_server_whose_key_hash_did_not_match_is_not_called_unreachable()
    {
        Assert.Equal("the server's identity did not match its address (its key has another hash)",
            EventFormatter.Explain(AgentError.BrokerTransport(Smp.Protocol.Transport.TransportError.BadKeyHash)));
        Assert.Equal("the server cannot be reached", EventFormatter.Explain(AgentError.BrokerTransport(Smp.Protocol.Transport.TransportError.Timeout)));
    }

    [Fact]
    public void An_answer_whose_command_is_forgotten_is_shown_raw_with_its_corrId() =>
        Assert.Equal("< 12 bob SENT 5", EventFormatter.Format(new AgentTransmission("12", "bob", new AgentCommand.Sent(5)), null).Single().Text);

    [Fact]
    public void Colour_is_ANSI_when_on_and_absent_when_off()
    {
        var message = EventFormatter.Format(new AgentTransmission("", "bob", Msg("hello")), null).Single();
        Assert.Equal("[bob] hello", message.Render(color: false));
        Assert.Equal("\e[1;36m[bob] \e[0mhello", message.Render(color: true));
        foreach (var style in Enum.GetValues<LineStyle>())
        {
            var line = new OutputLine(style, "text");
            Assert.Equal("text", line.Render(color: false));
            if (style is LineStyle.Plain or LineStyle.Message) Assert.Equal("text", line.Render(color: true));
            else Assert.Matches(@"^\e\[[0-9;]+mtext\e\[0m$", line.Render(color: true));
        }
        Assert.Equal("\e[1;31m! x\e[0m", new OutputLine(LineStyle.Error, "! x").Render(true));
        Assert.Equal("\e[33m! x\e[0m", new OutputLine(LineStyle.Warning, "! x").Render(true));
    }

    private static string[] Sending(string alias, AgentCommand command) =>
        EventFormatter.Sending(new PendingCommand(alias, command, "label")).Select(l => l.Text).ToArray();

    [Fact]
    public void A_direct_message_shows_as_pending_the_moment_it_is_sent_and_a_group_message_does_not_need_to()
    {
        Assert.Equal(["[to bob] hello (pending)"], Sending("bob", new AgentCommand.Send(Utf8("hello"))));
        Assert.Equal(["[to bob] line one", "         line two (pending)"], Sending("bob", new AgentCommand.Send(Utf8("line one\nline two"))));
        Assert.Empty(Sending("team", new AgentCommand.GSend(Utf8("hi")))); // GSENT comes at once
        Assert.Empty(Sending("bob", new AgentCommand.New()));
    }

    [Fact]
    public void Sent_names_the_message_by_its_first_words()
    {
        var pending = new PendingCommand("bob", new AgentCommand.Send(Utf8("first line\nsecond line")), "message to bob");
        Assert.Equal("[to bob] first line … (sent)", Answer("bob", new AgentCommand.Sent(4), pending).Single());
        var longer = new PendingCommand("bob", new AgentCommand.Send(Utf8(new string('x', 100))), "message to bob");
        Assert.Equal($"[to bob] {new string('x', 60)}… (sent)", Answer("bob", new AgentCommand.Sent(5), longer).Single());
        var hostile = new PendingCommand("bob", new AgentCommand.Send(Utf8("\e[31mred")), "message to bob");
        Assert.Equal("[to bob] \\x1B[31mred (sent)", Answer("bob", new AgentCommand.Sent(6), hostile).Single());
    }

    [Fact]
    public void Down_and_up_for_every_connection_on_a_relay_are_told_once_per_outage()
    {
        var outages = new RelayOutages();
        var other = new SmpServerAddress("other.example", 5223, null);
        Assert.True(outages.IsNews(new AgentCommand.Down(Server)));
        Assert.False(outages.IsNews(new AgentCommand.Down(Server)));                                 // a second connection on it
        Assert.False(outages.IsNews(new AgentCommand.Down(new SmpServerAddress("relay.example", null, [1])))); // same relay, written otherwise
        Assert.True(outages.IsNews(new AgentCommand.Down(other)));                                   // another relay is news
        Assert.True(outages.IsNews(new AgentCommand.Up(Server)));
        Assert.False(outages.IsNews(new AgentCommand.Up(Server)));
        Assert.True(outages.IsNews(new AgentCommand.Down(Server)));                                  // the next outage
        Assert.False(outages.IsNews(new AgentCommand.Up(new SmpServerAddress("never.down", 5223, null))));
    }

    [Fact]
    public void After_a_new_connection_to_the_agent_a_relay_said_lost_is_told_back_or_lost_again()
    {
        var outages = new RelayOutages();
        var other = new SmpServerAddress("other.example", 5223, null);
        Assert.True(outages.IsNews(new AgentCommand.Down(Server)));
        Assert.True(outages.IsNews(new AgentCommand.Down(other)));
        outages.Reconnected(); // events sent meanwhile were missed
        Assert.True(outages.IsNews(new AgentCommand.Up(Server)));
        Assert.False(outages.IsNews(new AgentCommand.Up(Server)));
        Assert.True(outages.IsNews(new AgentCommand.Down(other)));
        Assert.False(outages.IsNews(new AgentCommand.Down(other)));
    }
}
