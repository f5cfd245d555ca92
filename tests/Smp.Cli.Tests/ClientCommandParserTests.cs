using System.Text;
using Smp.Cli.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
namespace Smp.Cli.Tests;


public sealed class ClientCommandParserTests
{
    private const string Invitation = "smp::localhost:5223#KXNE1m2E1m0lm92WGKet20ZGDsrTPi2R7lU1nvUGmRg=::3Q2+Ag==::rsa:MIIBoDANBgkqhkiG9w0BAQEFAAOCAY0AMIIBiAKCAYEAyrpt+Q==";

    private static ClientAction.Request Request(string line) => Assert.IsType<ClientAction.Request>(ClientCommandParser.Parse(line));

    private static string Invalid(string line) => Assert.IsType<ClientAction.Invalid>(ClientCommandParser.Parse(line)).Message;

    private static string Text(ReadOnlyMemory<byte> body) => Encoding.UTF8.GetString(body.Span);

    [Fact]
    public void Invite_makes_NEW_with_the_name_or_an_empty_alias()
    {
        var r = Request("/invite bob");
        Assert.Equal("bob", r.Alias);
        Assert.IsType<AgentCommand.New>(r.Command);
        Assert.Equal("", Request("/invite").Alias);
    }

    [Fact]
    public void Accept_makes_JOIN_with_the_invitation()
    {
        Assert.True(SmpQueueInfo.TryParse(Invitation, out var expected));
        var r = Request($"/accept alice {Invitation}");
        Assert.Equal("alice", r.Alias);
        Assert.Equal(expected, Assert.IsType<AgentCommand.Join>(r.Command).QueueInfo);
        Assert.Equal("", Request($"/accept {Invitation}").Alias);
    }

    [Theory]
    [InlineData("/send bob hello there", "bob", "hello there")]
    [InlineData("@bob hello there", "bob", "hello there")]
    [InlineData("  @bob   spaced  out  ", "bob", "spaced  out")]
    [InlineData("@bob héllo ✓", "bob", "héllo ✓")]
    public void Send_forms_make_SEND_with_the_text_as_UTF8(string line, string alias, string text)
    {
        var r = Request(line);
        Assert.Equal(alias, r.Alias);
        Assert.Equal(text, Text(Assert.IsType<AgentCommand.Send>(r.Command).Body));
    }

    [Theory]
    [InlineData("/gsend team hi all", "team", "hi all")]
    [InlineData("#team hi all", "team", "hi all")]
    public void Group_send_forms_make_GSEND(string line, string alias, string text)
    {
        var r = Request(line);
        Assert.Equal(alias, r.Alias);
        Assert.Equal(text, Text(Assert.IsType<AgentCommand.GSend>(r.Command).Body));
    }

    [Fact]
    public void Group_makes_GNEW_whose_info_defaults_to_the_name()
    {
        var r = Request("/group team The Team");
        Assert.Equal("team", r.Alias);
        Assert.Equal("The Team", Text(Assert.IsType<AgentCommand.GNew>(r.Command).GroupInfo));
        Assert.Equal("team", Text(Assert.IsType<AgentCommand.GNew>(Request("/group team").Command).GroupInfo));
    }

    [Fact]
    public void Add_remove_join_and_reject_carry_their_arguments()
    {
        var add = Request("/add team bob");
        Assert.Equal(("team", "bob"), (add.Alias, Assert.IsType<AgentCommand.GAdd>(add.Command).MemberAlias));
        var remove = Request("/remove team bob");
        Assert.Equal(("team", "bob"), (remove.Alias, Assert.IsType<AgentCommand.GMDel>(remove.Command).MemberAlias));
        var join = Request("/join AQIDBAUGBwgJCgsM team");
        Assert.Equal("team", join.Alias);
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (byte)i), Assert.IsType<AgentCommand.GJoin>(join.Command).InvitationId);
        Assert.Equal("", Request("/join AQIDBAUGBwgJCgsM").Alias);
        var reject = Request("/reject alice AQIDBAUGBwgJCgsM");
        Assert.Equal("alice", reject.Alias);
        Assert.Equal(12, Assert.IsType<AgentCommand.GReject>(reject.Command).InvitationId.Length);
    }

    [Theory]
    [InlineData("/members team", typeof(AgentCommand.GMembers))]
    [InlineData("/leave team", typeof(AgentCommand.GLeave))]
    [InlineData("/delgroup team", typeof(AgentCommand.GDel))]
    [InlineData("/off team", typeof(AgentCommand.Off))]
    [InlineData("/delete team", typeof(AgentCommand.Del))]
    [InlineData("/sub team", typeof(AgentCommand.Sub))]
    [InlineData("/MEMBERS team", typeof(AgentCommand.GMembers))]
    public void One_name_commands_map_to_their_protocol_command(string line, Type type)
    {
        var r = Request(line);
        Assert.Equal("team", r.Alias);
        Assert.IsType(type, r.Command);
    }

    [Fact]
    public void Suball_has_an_empty_alias()
    {
        var r = Request("/suball");
        Assert.Equal("", r.Alias);
        Assert.IsType<AgentCommand.SubAll>(r.Command);
    }

    [Theory]
    [InlineData("/help", typeof(ClientAction.Help))]
    [InlineData("/?", typeof(ClientAction.Help))]
    [InlineData("/quit", typeof(ClientAction.Quit))]
    [InlineData("/exit", typeof(ClientAction.Quit))]
    [InlineData("", typeof(ClientAction.Nothing))]
    [InlineData("   \t ", typeof(ClientAction.Nothing))]
    [InlineData(null, typeof(ClientAction.Quit))]
    public void Local_commands_and_the_end_of_input(string? line, Type type) =>
        Assert.IsType(type, ClientCommandParser.Parse(line));

    [Fact]
    public void Wire_switches_on_and_off()
    {
        Assert.True(Assert.IsType<ClientAction.Wire>(ClientCommandParser.Parse("/wire on")).On);
        Assert.False(Assert.IsType<ClientAction.Wire>(ClientCommandParser.Parse("/wire OFF")).On);
        Assert.Contains("usage", Invalid("/wire maybe"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("!bob SEND :hello", "bob", "SEND :hello")]
    [InlineData("! NEW", "", "NEW")]
    [InlineData("!  SUBALL", "", "SUBALL")]
    [InlineData("!bob FROB", "bob", "FROB")]
    [InlineData("!bad*alias SUB", "bad*alias", "SUB")]
    public void Raw_lines_pass_through_with_their_alias_even_when_the_agent_will_refuse_them(string line, string alias, string command)
    {
        var raw = Assert.IsType<ClientAction.Raw>(ClientCommandParser.Parse(line));
        Assert.Equal((alias, command), (raw.Alias, raw.CommandLine));
    }

    [Theory]
    [InlineData("!bob SEND 5", "':text' body")]
    [InlineData("!bob", "usage")]
    [InlineData("!", "usage")]
    public void Raw_lines_that_would_desynchronise_the_stream_are_refused(string line, string expected) =>
        Assert.Contains(expected, Invalid(line), StringComparison.Ordinal);

    [Theory]
    [InlineData("hello", "@name text")]
    [InlineData("/frobnicate", "unknown command /frobnicate")]
    [InlineData("/invite bo*b", "'bo*b' is not a usable contact name")]
    [InlineData("/invite a b", "usage: /invite")]
    [InlineData("/accept bob", "not an invitation")]
    [InlineData("/accept bob smp::nonsense", "not an invitation")]
    [InlineData("/accept", "usage: /accept")]
    [InlineData("/send bob", "usage: /send")]
    [InlineData("@bob", "usage: @")]
    [InlineData("@", "usage: @")]
    [InlineData("#team", "usage: #")]
    [InlineData("/gsend", "usage: /gsend")]
    [InlineData("/group", "usage: /group")]
    [InlineData("/group t%am", "not a usable group name")]
    [InlineData("/add team", "usage: /add")]
    [InlineData("/add team bob extra", "usage: /add")]
    [InlineData("/join", "usage: /join")]
    [InlineData("/join not-base64!", "not an invitation id")]
    [InlineData("/join ====", "not an invitation id")]
    [InlineData("/reject bob", "usage: /reject")]
    [InlineData("/reject bob ???", "not an invitation id")]
    [InlineData("/members", "usage: /members")]
    [InlineData("/leave a b", "usage: /leave")]
    [InlineData("/remove team", "usage: /remove")]
    [InlineData("/delgroup", "usage: /delgroup")]
    [InlineData("/off", "usage: /off")]
    [InlineData("/delete", "usage: /delete")]
    [InlineData("/sub", "usage: /sub")]
    [InlineData("/suball x", "usage: /suball")]
    [InlineData("@bob\u001b[2J", "usage: @")]
    public void Bad_input_gets_a_friendly_message(string line, string expected) =>
        Assert.Contains(expected, Invalid(line), StringComparison.Ordinal);

    [Fact]
    public void A_name_longer_than_the_alias_limit_is_refused() =>
        Assert.Contains("not a usable", Invalid("/invite " + new string('a', AgentAlias.MaxLength + 1)), StringComparison.Ordinal);

    [Fact]
    public void Error_messages_echo_control_characters_harmlessly() =>
        Assert.DoesNotContain('\u001b', Invalid("/\u001b]0;pwned\u0007"));

    [Fact]
    public void A_huge_line_is_refused_without_being_sent() =>
        Assert.Contains("too long", Invalid("@bob " + new string('x', ClientCommandParser.MaxLineLength)), StringComparison.Ordinal);

    [Fact]
    public void No_line_makes_the_parser_throw()
    {
        var random = new Random(7);
        string[] starts = ["/", "@", "#", "!", "/join ", "/accept a ", "! ", "/add "];
        for (var i = 0; i < 3000; i++)
        {
            var chars = new char[random.Next(0, 40)];
            for (var j = 0; j < chars.Length; j++) chars[j] = (char)random.Next(0, 0x3000);
            var line = starts[i % starts.Length] + new string(chars);
            Assert.NotNull(ClientCommandParser.Parse(line));
        }
    }
}
