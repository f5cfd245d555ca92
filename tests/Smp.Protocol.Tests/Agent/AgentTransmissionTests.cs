using System.Text;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Protocol.Tests.Agent;

public class AgentTransmissionTests
{
    private static byte[] Ascii(string s) => Encoding.Latin1.GetBytes(s);

    private static string Text(string corrId, string alias, AgentCommand c) =>
        Encoding.Latin1.GetString(AgentTransmissionCodec.ToBytes(corrId, alias, c));

    private static AgentTransmissionParser AgentSide(AgentTransmissionLimits? limits = null) => new(AgentParty.Client, limits);

    private static AgentTransmission One(string input, AgentParty sender = AgentParty.Client, AgentTransmissionLimits? limits = null) =>
        Assert.Single(TransmissionFeeder.ParseAll(new AgentTransmissionParser(sender, limits), Ascii(input)));

    private static void AssertError(AgentTransmission t, AgentErrorCode code, string corrId = "1", string alias = "c")
    {
        Assert.Null(t.Command);
        Assert.Equal(code, t.Error!.Code);
        Assert.Equal(corrId, t.CorrId);
        Assert.Equal(alias, t.Alias);
    }

    public static IEnumerable<AgentCommand> AllCommands()
    {
        var ts = AgentSamples.Ts;
        var id = AgentSamples.Bytes(12, 9);
        var body = new byte[] { (byte)'a', 13, 10, 0, 255 };
        yield return new AgentCommand.New();
        yield return new AgentCommand.Join(AgentSamples.Queue);
        yield return new AgentCommand.Join(AgentSamples.Queue, NoReply: true);
        yield return new AgentCommand.Sub();
        yield return new AgentCommand.SubAll();
        yield return new AgentCommand.Send(body);
        yield return new AgentCommand.Send(Array.Empty<byte>());
        yield return new AgentCommand.Off();
        yield return new AgentCommand.Del();
        yield return new AgentCommand.GNew("team"u8.ToArray());
        yield return new AgentCommand.GNew("team"u8.ToArray(), body);
        yield return new AgentCommand.GNew(Array.Empty<byte>(), body);
        yield return new AgentCommand.GAdd("bob");
        yield return new AgentCommand.GJoin(id);
        yield return new AgentCommand.GJoin(id, body);
        yield return new AgentCommand.GReject(id);
        yield return new AgentCommand.GSend(body);
        yield return new AgentCommand.GLeave();
        yield return new AgentCommand.GMDel("b0b+/=.-_");
        yield return new AgentCommand.GDel();
        yield return new AgentCommand.GMembers();
        yield return new AgentCommand.GInfo(body);
        yield return new AgentCommand.GInfo(Array.Empty<byte>());
        yield return new AgentCommand.Inv(AgentSamples.Queue);
        yield return new AgentCommand.Con();
        yield return new AgentCommand.End();
        yield return new AgentCommand.Ok();
        yield return new AgentCommand.Sent(12);
        yield return new AgentCommand.Msg(MsgIntegrity.Ok, 3, ts, [1, 2, 3, 4, 5, 6], ts, 1, ts, body);
        yield return new AgentCommand.Msg(MsgIntegrity.NoId(2, 4), 3, ts, [1, 2, 3, 4, 5, 6], ts, 5, ts, body);
        foreach (var e in AgentErrorsTests.AllErrors()) yield return new AgentCommand.Err(e);
        yield return new AgentCommand.Down(SmpServerAddress.Parse("localhost:5223#AQID"));
        yield return new AgentCommand.Up(SmpServerAddress.Parse("smp.example.org"));
        yield return new AgentCommand.GInv(id, "group info"u8.ToArray());
        yield return new AgentCommand.GCon("bob");
        yield return new AgentCommand.GAll("bob");
        yield return new AgentCommand.GSent(id);
        yield return new AgentCommand.GMsg("bob", MsgIntegrity.Ok, 7, ts, body);
        yield return new AgentCommand.GMsg("bob", MsgIntegrity.Hash, 7, ts, Array.Empty<byte>());
        yield return new AgentCommand.GLeft("bob");
        yield return new AgentCommand.GMDeleted("bob");
        yield return new AgentCommand.GRemoved("bob");
        yield return new AgentCommand.GEmpty();
        yield return new AgentCommand.GDeleted("bob");
        yield return new AgentCommand.GRejected("bob");
        foreach (var s in Enum.GetValues<GroupMemberStatus>()) yield return new AgentCommand.GMem("bob", AgentSamples.Bytes(16, 3), s);
        foreach (var s in Enum.GetValues<GroupMemberStatus>()) yield return new AgentCommand.GMem("bob", AgentSamples.Bytes(16, 3), s, body);
        foreach (var r in Enum.GetValues<GroupAddErrorReason>()) yield return new AgentCommand.GMFailed("bob", r);
        yield return new AgentCommand.GMInfo("bob", body);
        yield return new AgentCommand.GMInfo("bob", Array.Empty<byte>());
        yield return new AgentCommand.GFMsg("bob", MsgIntegrity.Ok, 7, ts, body);
        yield return new AgentCommand.GFMsg(GroupAuthor.OfMemberId(AgentSamples.Bytes(16, 3)), MsgIntegrity.Id(3), 3, ts, Array.Empty<byte>());
        yield return new AgentCommand.GHMsg("bob", MsgIntegrity.NoId(2, 3), 4, ts, body);
        yield return new AgentCommand.GHMsg(GroupAuthor.OfMemberId(AgentSamples.Bytes(64, 3)), MsgIntegrity.Ok, 1, ts, body);
    }

    [Fact]
    public void Member_info_forms_serialise_as_the_grammar_says()
    {
        // GNEW's body is the group info; our own info rides on the line as I=b64 ("Alice" = QWxpY2U=).
        Assert.Equal("1\r\ng1\r\nGNEW I=QWxpY2U= 4\nteam\r\n", Text("1", "g1", new AgentCommand.GNew("team"u8.ToArray(), "Alice"u8.ToArray())));
        Assert.Equal("1\r\ng1\r\nGNEW 4\nteam\r\n", Text("1", "g1", new AgentCommand.GNew("team"u8.ToArray())));
        Assert.Equal("2\r\ng1\r\nGJOIN AQID 3\nBob\r\n", Text("2", "g1", new AgentCommand.GJoin([1, 2, 3], "Bob"u8.ToArray())));
        Assert.Equal("2\r\ng1\r\nGJOIN AQID\r\n", Text("2", "g1", new AgentCommand.GJoin([1, 2, 3])));
        Assert.Equal("3\r\ng1\r\nGMEM bob AQID LEFT 3\nBob\r\n",
            Text("3", "g1", new AgentCommand.GMem("bob", [1, 2, 3], GroupMemberStatus.Left, "Bob"u8.ToArray())));
        Assert.Equal("\r\ng1\r\nGMINFO bob 3\nBob\r\n", Text("", "g1", new AgentCommand.GMInfo("bob", "Bob"u8.ToArray())));
        Assert.Equal("\r\ng1\r\nGMINFO bob 0\n\r\n", Text("", "g1", new AgentCommand.GMInfo("bob", Array.Empty<byte>())));
        Assert.Equal("4\r\ng1\r\nGINFO 5\nBob B\r\n", Text("4", "g1", new AgentCommand.GInfo("Bob B"u8.ToArray())));
        // GINFO is a client command although its number (55) is among the events'.
        Assert.Equal(AgentParty.Client, new AgentCommand.GInfo(Array.Empty<byte>()).Party);
        Assert.Equal(55, (int)AgentCommandKind.GInfo);
        Assert.Equal("Bob B"u8.ToArray(), Assert.IsType<AgentCommand.GInfo>(One("4\ng1\nGINFO :Bob B\n").Command).MemberInfo.ToArray());
    }

    [Fact]
    public void Member_info_forms_parse_in_both_body_forms()
    {
        var gnew = Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW I=QWxpY2U= :team\n").Command);
        Assert.Equal("team"u8.ToArray(), gnew.GroupInfo.ToArray());
        Assert.Equal("Alice"u8.ToArray(), gnew.MemberInfo.ToArray());
        gnew = Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW I=QWxpY2U= 4\nteam\n").Command);
        Assert.Equal(("team", "Alice"), (Encoding.ASCII.GetString(gnew.GroupInfo.Span), Encoding.ASCII.GetString(gnew.MemberInfo.Span)));
        // The old form still means no member info; so does an empty I= field.
        Assert.True(Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW :team\n").Command).MemberInfo.IsEmpty);
        Assert.True(Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW I= :team\n").Command).MemberInfo.IsEmpty);
        // A text group info that starts with I= is still group info: the field needs SP before the body.
        Assert.Equal("I=x"u8.ToArray(), Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW :I=x\n").Command).GroupInfo.ToArray());
        var join = Assert.IsType<AgentCommand.GJoin>(One("1\n\nGJOIN AQID :Bob\n").Command);
        Assert.Equal("Bob", Encoding.ASCII.GetString(join.MemberInfo.Span));
        Assert.Equal(new byte[] { 1, 2, 3 }, join.InvitationId);
        Assert.Equal("Bob"u8.ToArray(), Assert.IsType<AgentCommand.GJoin>(One("1\n\nGJOIN AQID 3\nBob\n").Command).MemberInfo.ToArray());
        Assert.True(Assert.IsType<AgentCommand.GJoin>(One("1\n\nGJOIN AQID\n").Command).MemberInfo.IsEmpty);
        var gmem = Assert.IsType<AgentCommand.GMem>(One("3\ng1\nGMEM bob AQID CONNECTED :Bob\n", AgentParty.Agent).Command);
        Assert.Equal(("Bob", GroupMemberStatus.Connected), (Encoding.ASCII.GetString(gmem.Info.Span), gmem.Status));
        Assert.True(Assert.IsType<AgentCommand.GMem>(One("3\ng1\nGMEM bob AQID CONNECTED\n", AgentParty.Agent).Command).Info.IsEmpty);
        var info = Assert.IsType<AgentCommand.GMInfo>(One("\ng1\nGMINFO bob 3\nBob\n", AgentParty.Agent).Command);
        Assert.Equal(("bob", "Bob"), (info.MemberAlias, Encoding.ASCII.GetString(info.Info.Span)));
        Assert.Equal(AgentCommandKind.GMInfo, info.Kind);
        Assert.Equal(54, (int)AgentCommandKind.GMInfo);
    }

    public static TheoryData<string, AgentParty, AgentErrorCode> MalformedMemberInfo => new()
    {
        { "1\r\n\r\nGNEW I=not-b64! :team\r\n", AgentParty.Client, AgentErrorCode.CmdSyntax },
        { "1\r\n\r\nGNEW I=QWxpY2U=\r\n", AgentParty.Client, AgentErrorCode.CmdSyntax },
        { "1\r\n\r\nGNEW I=QWxpY2U=  :team\r\n", AgentParty.Client, AgentErrorCode.CmdSize },
        { "1\r\n\r\nGNEW J=QQ== :team\r\n", AgentParty.Client, AgentErrorCode.CmdSize },
        { "1\r\n\r\nGJOIN AQID \r\n", AgentParty.Client, AgentErrorCode.CmdSize },
        { "1\r\n\r\nGJOIN AQID Bob\r\n", AgentParty.Client, AgentErrorCode.CmdSize },
        { "1\r\ng1\r\nGMEM bob AQID CONNECTED x\r\n", AgentParty.Agent, AgentErrorCode.CmdSize },
        { "1\r\ng1\r\nGMINFO bob\r\n", AgentParty.Agent, AgentErrorCode.CmdSyntax },
        { "1\r\ng1\r\nGMINFO :Bob\r\n", AgentParty.Agent, AgentErrorCode.CmdSyntax },
        { "1\r\ng1\r\nGMINFO bob 2\nBob\r\n", AgentParty.Agent, AgentErrorCode.CmdSize },
        { "1\r\ng1\r\nGMINFO bob :Bob\r\n", AgentParty.Client, AgentErrorCode.CmdProhibited },
        { "1\r\ng1\r\nGINFO :Bob\r\n", AgentParty.Agent, AgentErrorCode.CmdProhibited },
        { "1\r\ng1\r\nGINFO\r\n", AgentParty.Client, AgentErrorCode.CmdSyntax },
        { "1\r\ng1\r\nGINFO x\r\n", AgentParty.Client, AgentErrorCode.CmdSize },
        { "1\r\n\r\nGINFO :Bob\r\n", AgentParty.Client, AgentErrorCode.CmdNoConn },
    };

    [Theory]
    [MemberData(nameof(MalformedMemberInfo))]
    public void Malformed_member_info_forms_get_their_error_and_the_next_transmission_parses(string bad, AgentParty sender, AgentErrorCode code)
    {
        var next = sender == AgentParty.Client ? "2\r\nc\r\nSUB\r\n" : "2\r\nc\r\nOK\r\n";
        var ts = TransmissionFeeder.ParseAll(new AgentTransmissionParser(sender), Ascii(bad + next));
        Assert.Equal(2, ts.Count);
        Assert.Null(ts[0].Command);
        Assert.Equal(code, ts[0].Error!.Code);
        Assert.NotNull(ts[1].Command);
    }

    [Fact]
    public void Every_command_and_event_round_trips()
    {
        foreach (var command in AllCommands())
        {
            var bytes = AgentTransmissionCodec.ToBytes("7", "conn1", command);
            var t = Assert.Single(TransmissionFeeder.ParseAll(new AgentTransmissionParser(command.Party), bytes));
            Assert.True(t.Error is null, $"{command.Kind}: {t.Error}");
            Assert.Equal(command.Kind, t.Command!.Kind);
            Assert.Equal("7", t.CorrId);
            Assert.Equal("conn1", t.Alias);
            Assert.Equal(bytes, AgentTransmissionCodec.ToBytes(t.CorrId, t.Alias, t.Command));
        }
    }

    [Fact]
    public void A_stream_split_at_every_byte_parses_identically()
    {
        var all = AllCommands().ToList();
        foreach (var party in new[] { AgentParty.Client, AgentParty.Agent })
        {
            var stream = all.Where(c => c.Party == party)
                .SelectMany((c, i) => AgentTransmissionCodec.ToBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture), "a" + i, c))
                .ToArray();
            var whole = TransmissionFeeder.ParseAll(new AgentTransmissionParser(party), stream);
            var bytewise = TransmissionFeeder.ParseAll(new AgentTransmissionParser(party), stream, chunk: 1);
            var segmented = TransmissionFeeder.ParseAll(new AgentTransmissionParser(party), stream, chunk: 7, segmented: true);
            Assert.Equal(all.Count(c => c.Party == party), whole.Count);
            foreach (var other in new[] { bytewise, segmented })
            {
                Assert.Equal(whole.Count, other.Count);
                for (var i = 0; i < whole.Count; i++)
                    Assert.Equal(AgentTransmissionCodec.ToBytes(whole[i].CorrId, whole[i].Alias, whole[i].Command!),
                        AgentTransmissionCodec.ToBytes(other[i].CorrId, other[i].Alias, other[i].Command!));
            }
        }
    }

    [Fact]
    public void Events_serialise_as_the_reference_writes_them()
    {
        var ts = new DateTimeOffset(2021, 5, 15, 16, 1, 53, 123, TimeSpan.Zero);
        Assert.Equal("\r\nbob\r\nMSG OK R=3,2021-05-15T16:01:53.123Z B=AQIDBAUG,2021-05-15T16:01:53.123Z S=1,2021-05-15T16:01:53.123Z 5\nhello\r\n",
            Text("", "bob", new AgentCommand.Msg(MsgIntegrity.Ok, 3, ts, [1, 2, 3, 4, 5, 6], ts, 1, ts, "hello"u8.ToArray())));
        Assert.Equal("1\r\n5678\r\nERR CMD SYNTAX\r\n", Text("1", "5678", new AgentCommand.Err(AgentError.Of(AgentErrorCode.CmdSyntax))));
        Assert.Equal("17\r\nalice\r\nERR SMP AUTH\r\n", Text("17", "alice", new AgentCommand.Err(AgentError.FromSmp(SmpErrorCode.Auth))));
        Assert.Equal("2\r\nbob\r\nSENT 1\r\n", Text("2", "bob", new AgentCommand.Sent(1)));
        Assert.Equal($"1\r\nbob\r\nINV {AgentSamples.Queue}\r\n", Text("1", "bob", new AgentCommand.Inv(AgentSamples.Queue)));
        Assert.Equal("\r\ng1\r\nGMSG bob ERR ID 2 S=2,2021-05-15T16:01:53.123Z 2\nhi\r\n",
            Text("", "g1", new AgentCommand.GMsg("bob", MsgIntegrity.Id(2), 2, ts, "hi"u8.ToArray())));
        Assert.Equal("\r\n\r\nDOWN localhost:5000\r\n", Text("", "", new AgentCommand.Down(SmpServerAddress.Parse("localhost:5000"))));
        Assert.Equal("3\r\ng1\r\nGMEM bob AQID CONNECTED\r\n", Text("3", "g1", new AgentCommand.GMem("bob", [1, 2, 3], GroupMemberStatus.Connected)));
        Assert.Equal("3\r\ng1\r\nGMEM bob AQID FAILED\r\n", Text("3", "g1", new AgentCommand.GMem("bob", [1, 2, 3], GroupMemberStatus.Failed)));
        Assert.Equal("\r\ng1\r\nGMFAILED bob TIMEOUT\r\n", Text("", "g1", new AgentCommand.GMFailed("bob", GroupAddErrorReason.Timeout)));
    }

    [Fact]
    public void A_gmfailed_without_a_well_formed_reason_is_a_syntax_error()
    {
        foreach (var line in new[] { "GMFAILED bob", "GMFAILED bob timeout", "GMFAILED bob TIME OUT", "GMFAILED  TIMEOUT" })
        {
            var t = Assert.Single(TransmissionFeeder.ParseAll(new AgentTransmissionParser(AgentParty.Agent), System.Text.Encoding.ASCII.GetBytes("\r\ng1\r\n" + line + "\r\n")));
            Assert.True(t.Error is not null, line);
        }
    }

    [Fact]
    public void The_reference_syntax_cases_give_its_errors()
    {
        AssertError(One("1\r\n5678\r\nHELLO\r\n"), AgentErrorCode.CmdSyntax, "1", "5678");
        AssertError(One("222\r\n\r\nNEW hi\r\n"), AgentErrorCode.CmdSyntax, "222", "");
        AssertError(One("321\r\n\r\nJOIN\r\n"), AgentErrorCode.CmdSyntax, "321", "");
        AssertError(One("1\r\nc\r\nOK\r\n"), AgentErrorCode.CmdProhibited);
        AssertError(One("1\r\nc\r\nSEND\r\n"), AgentErrorCode.CmdSyntax);
    }

    [Fact]
    public void SUBALL_is_our_extension_and_parses()
    {
        var t = One("1\r\n\r\nSUBALL\r\n");
        Assert.IsType<AgentCommand.SubAll>(t.Command);
        Assert.IsType<AgentCommand.Sub>(One("1\r\nc\r\nSUB\r\n").Command);
    }

    [Fact]
    public void Both_body_forms_and_lf_only_input_are_accepted()
    {
        Assert.Equal("hello"u8.ToArray(), Assert.IsType<AgentCommand.Send>(One("2\r\nbob\r\nSEND :hello\r\n").Command).Body.ToArray());
        Assert.Equal(" sp :x\r"u8.ToArray(), Assert.IsType<AgentCommand.Send>(One("2\nbob\nSEND : sp :x\r\r\n").Command).Body.ToArray());
        Assert.Empty(Assert.IsType<AgentCommand.Send>(One("2\nbob\nSEND :\n").Command).Body.ToArray());
        Assert.Equal("hello too"u8.ToArray(), Assert.IsType<AgentCommand.Send>(One("14\r\nalice\r\nSEND 9\nhello too\r\n").Command).Body.ToArray());
        Assert.Equal("a\r\nb"u8.ToArray(), Assert.IsType<AgentCommand.GSend>(One("1\ng\nGSEND 4\r\na\r\nb\n").Command).Body.ToArray());
        Assert.Equal("x"u8.ToArray(), Assert.IsType<AgentCommand.GNew>(One("1\n\nGNEW :x\n").Command).GroupInfo.ToArray());
        var msg = Assert.IsType<AgentCommand.Msg>(One(
            "\nbob\nMSG ERR NO_ID 2 5 R=3,2021-05-15T16:01:53.123Z B=AQIDBAUG,2021-05-15T16:01:53.123Z S=6,2021-05-15T16:01:53.123Z 5\nhello\n",
            AgentParty.Agent).Command);
        Assert.Equal(MsgIntegrity.NoId(2, 5), msg.Integrity);
        Assert.Equal(6, msg.SenderMsgId);
    }

    [Fact]
    public void Empty_aliases_are_allowed_only_where_the_agent_makes_one_up()
    {
        foreach (var ok in new[] { "NEW", $"JOIN {AgentSamples.Queue}", "GNEW :x", "GJOIN AQID", "SUBALL" })
            Assert.Null(One($"1\r\n\r\n{ok}\r\n").Error);
        foreach (var bad in new[] { "SUB", "SEND :x", "OFF", "DEL", "GADD bob", "GREJECT AQID", "GSEND :x", "GLEAVE", "GMDEL bob", "GDEL", "GMEMBERS" })
            AssertError(One($"1\r\n\r\n{bad}\r\n"), AgentErrorCode.CmdNoConn, alias: "");
        Assert.Null(One("\r\n\r\nERR CMD SYNTAX\r\n", AgentParty.Agent).Error);
    }

    [Theory]
    [InlineData("1\r\nbad alias\r\nSUB\r\n")]
    [InlineData("1\r\nbad\u00e9\r\nSUB\r\n")]
    [InlineData("1\r\nal:ias\r\nSUB\r\n")]
    public void Aliases_outside_our_alphabet_are_a_syntax_error_with_no_alias_echoed(string input) =>
        AssertError(One(input), AgentErrorCode.CmdSyntax, alias: "");

    [Fact]
    public void Aliases_and_corr_ids_have_length_limits()
    {
        Assert.Equal(new string('a', 64), One($"1\r\n{new string('a', 64)}\r\nSUB\r\n").Alias);
        AssertError(One($"1\r\n{new string('a', 65)}\r\nSUB\r\n"), AgentErrorCode.CmdSyntax, alias: "");
        AssertError(One($"1\r\n{new string('a', 5000)}\r\nSUB\r\n"), AgentErrorCode.CmdSyntax, alias: "");
        AssertError(One($"{new string('1', 65)}\r\nc\r\nSUB\r\n"), AgentErrorCode.CmdSyntax, corrId: "");
        AssertError(One("1 2\r\nc\r\nSUB\r\n"), AgentErrorCode.CmdSyntax, corrId: "");
    }

    [Fact]
    public void A_client_sending_an_agent_event_is_refused_after_its_body_so_the_stream_stays_in_step()
    {
        var input = "1\r\nc\r\nMSG OK R=3,2021-05-15T16:01:53.123Z B=AQIDBAUG,2021-05-15T16:01:53.123Z S=1,2021-05-15T16:01:53.123Z 5\nSUB\r\n\r\n"
            + "2\r\nc\r\nSUB\r\n";
        var ts = TransmissionFeeder.ParseAll(AgentSide(), Ascii(input));
        Assert.Equal(2, ts.Count);
        AssertError(ts[0], AgentErrorCode.CmdProhibited);
        Assert.IsType<AgentCommand.Sub>(ts[1].Command);
        AssertError(One("1\r\nc\r\nNEW\r\n", AgentParty.Agent), AgentErrorCode.CmdProhibited);
    }

    private static readonly AgentTransmissionLimits Small = new() { MaxCommandLineLength = 100, MaxBodySize = 50 };

    public static TheoryData<string, AgentErrorCode> Recoveries => new()
    {
        { $"1\r\nc\r\nSEND :{new string('x', 5000)}\r\n", AgentErrorCode.CmdLarge },
        { $"1\r\nc\r\nSEND {new string('9', 10)}\r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND 12x\r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND -1\r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND \r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND  5\r\n", AgentErrorCode.CmdSize },
        { $"1\r\nc\r\nSEND 500\r\n{new string('y', 500)}\r\n", AgentErrorCode.CmdLarge },
        { $"1\r\nc\r\nSEND 51\n{new string('y', 51)}\n", AgentErrorCode.CmdLarge },
        { "1\r\nc\r\nSEND 3\nhello\r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND 5\nhello\rX\r\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nSEND 5\nhello world and more\n", AgentErrorCode.CmdSize },
        { "1\r\nc\r\nFROB\r\n", AgentErrorCode.CmdSyntax },
        { "1\r\nc\r\nNEW \r\n", AgentErrorCode.CmdSyntax },
        { "1\r\nc\r\nJOIN smp::x\r\n", AgentErrorCode.CmdSyntax },
        { "1\r\nc\r\nJOIN smp::a::AQID::rsa:AQID NO\r\n", AgentErrorCode.CmdSyntax },
        { "1\r\nc\r\nGJOIN not-b64!\r\n", AgentErrorCode.CmdSyntax },
        { "1\r\nc\r\nGADD bad alias\r\n", AgentErrorCode.CmdSyntax },
    };

    [Theory]
    [MemberData(nameof(Recoveries))]
    public void Bad_transmissions_get_their_error_and_the_next_one_parses(string bad, AgentErrorCode code)
    {
        var input = Ascii(bad + "2\r\nc\r\nSEND 2\nok\r\n" + "3\nc\nSUB\n");
        foreach (var chunk in new[] { int.MaxValue, 1, 3, 64 })
        {
            var ts = TransmissionFeeder.ParseAll(AgentSide(Small), input, chunk);
            Assert.Equal(3, ts.Count);
            AssertError(ts[0], code);
            Assert.Equal("ok"u8.ToArray(), Assert.IsType<AgentCommand.Send>(ts[1].Command).Body.ToArray());
            Assert.Equal("2", ts[1].CorrId);
            Assert.IsType<AgentCommand.Sub>(ts[2].Command);
            Assert.True(TransmissionFeeder.MaxBuffered <= 300, $"buffered {TransmissionFeeder.MaxBuffered}");
        }
    }

    [Fact]
    public void A_line_that_never_ends_is_never_buffered_beyond_its_limit()
    {
        var parser = AgentSide(Small);
        var flood = Ascii("1\r\nc\r\nSEND :" + new string('z', 100_000));
        var ts = TransmissionFeeder.ParseAll(parser, flood, chunk: 1000);
        AssertError(Assert.Single(ts), AgentErrorCode.CmdLarge);
        Assert.True(TransmissionFeeder.MaxBuffered < 1200);
        var after = TransmissionFeeder.ParseAll(parser, Ascii("zzz\r\n4\r\nc\r\nSUB\r\n"));
        Assert.Equal("4", Assert.Single(after).CorrId);
    }

    [Fact]
    public void A_client_reads_events_after_the_welcome_line()
    {
        var parser = new AgentTransmissionParser(AgentParty.Agent, skipWelcomeLine: true);
        var ts = TransmissionFeeder.ParseAll(parser, Ascii("Welcome to SMP v0.3.1 agent\r\n\r\nbob\r\nCON\r\n"), chunk: 2);
        var t = Assert.Single(ts);
        Assert.IsType<AgentCommand.Con>(t.Command);
        Assert.Equal("bob", t.Alias);
    }

    [Fact]
    public void Random_garbage_never_throws_nor_stalls_nor_piles_up_in_the_buffer()
    {
        var random = new Random(1234);
        var alphabet = Ascii("\r\n\n\n :0123456789SENDMSGOKJOINGSEND5\0\xff");
        for (var round = 0; round < 300; round++)
        {
            var garbage = new byte[random.Next(0, 400)];
            for (var i = 0; i < garbage.Length; i++) garbage[i] = alphabet[random.Next(alphabet.Length)];
            var parser = AgentSide(Small);
            var chunk = random.Next(1, 50);
            TransmissionFeeder.ParseAll(parser, garbage, chunk);
            // The garbage may leave a body or lines owed, so nothing is asserted about the next transmission.
            Assert.True(TransmissionFeeder.MaxBuffered <= Small.MaxCommandLineLength + Small.MaxBodySize + chunk + 2);
        }
    }
}
