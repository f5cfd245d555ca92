using System.Text;
using Smp.Cli.Client;
using Smp.Protocol.Agent;

namespace Smp.Cli.Tests;

/// <summary>Who is who in the terminal client (docs/client.md, groups.md §6.12): names heard, local renames, our own name.</summary>
public sealed class MemberNamesTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static string[] Format(MemberNames names, AgentTransmission t, PendingCommand? pending = null)
    {
        names.Observe(t);
        return EventFormatter.Format(t, pending, names).Select(l => l.Text).ToArray();
    }

    private static AgentTransmission Notification(string alias, AgentCommand c) => new("", alias, c);

    [Fact]
    public void A_members_own_name_replaces_its_alias_and_a_local_name_replaces_both()
    {
        var names = new MemberNames();
        Assert.Equal(["* x7Fk in team is \"Bob\""], Format(names, Notification("team", new AgentCommand.GMInfo("x7Fk", Utf8("Bob")))));
        var gmsg = new AgentCommand.GMsg("x7Fk", MsgIntegrity.Ok, 1, DateTimeOffset.UnixEpoch, Utf8("hi"));
        Assert.Equal(["[team] Bob: hi"], Format(names, Notification("team", gmsg)));

        Assert.Equal("Bobby", names.Rename("x7Fk", "Bobby"));
        Assert.Equal(["[team] Bobby: hi"], Format(names, Notification("team", gmsg)));
        Assert.Equal(["* x7Fk in team calls itself \"Bob\" (you call it \"Bobby\")"],
            Format(names, Notification("team", new AgentCommand.GMInfo("x7Fk", Utf8("Bob")))));

        Assert.Null(names.Rename("x7Fk", null));
        Assert.Equal(["[team] Bob: hi"], Format(names, Notification("team", gmsg)));
        // Names are per group: the same alias in another group, where it gave none, shows as the alias.
        Assert.Equal(["[other] x7Fk: hi"], Format(names, Notification("other", gmsg)));
    }

    [Fact]
    public void Members_lists_show_names_with_aliases_and_tell_live_members_from_departed_ones()
    {
        var names = new MemberNames();
        var p = new PendingCommand("team", new AgentCommand.GMembers(), "/members team");
        Assert.Equal(["  + Bob (bob)  connected"],
            Format(names, new("7", "team", new AgentCommand.GMem("bob", [1], GroupMemberStatus.Connected, Utf8("Bob"))), p));
        Assert.Equal(["  - Carol (carol)  left, no longer a member"],
            Format(names, new("7", "team", new AgentCommand.GMem("carol", [2], GroupMemberStatus.Left, Utf8("Carol"))), p));
        Assert.Equal(["  - dave  removed, no longer a member"],
            Format(names, new("7", "team", new AgentCommand.GMem("dave", [3], GroupMemberStatus.Removed)), p));
        Assert.Equal(["  + erin  invited"], Format(names, new("7", "team", new AgentCommand.GMem("erin", [4], GroupMemberStatus.Invited)), p));
        Assert.Equal(["* team: 2 members besides you (2 left or removed)"], Format(names, new("7", "team", new AgentCommand.Ok()), p));
        // What GMEM told is kept: later messages from Bob show his name.
        Assert.Equal("Bob", names.Display("team", "bob"));
    }

    [Fact]
    public void Names_from_peers_are_made_printable_one_line_and_short()
    {
        var names = new MemberNames();
        names.Told("team", "bob", Utf8("Bob\n\u001b[2Jevil"));
        Assert.Equal("Bob\\x0A\\x1B[2Jevil", names.Display("team", "bob"));
        names.Told("team", "bob", Utf8(new string('a', 500)));
        Assert.Equal(MemberNames.MaxNameLength + 1, names.Display("team", "bob").Length);
        names.Told("team", "bob", []);
        Assert.Equal("bob", names.Display("team", "bob"));
        Assert.Equal(["* bob in team gave no name"], Format(names, Notification("team", new AgentCommand.GMInfo("bob", Array.Empty<byte>()))));
    }

    [Fact]
    public void Our_own_name_goes_with_gnew_and_gjoin_and_nothing_else()
    {
        var names = new MemberNames();
        var gnew = new AgentCommand.GNew(Utf8("the team"));
        Assert.Same(gnew, names.WithOwnInfo(gnew));
        names.OwnName = "Alice";
        Assert.Equal("Alice", Encoding.UTF8.GetString(Assert.IsType<AgentCommand.GNew>(names.WithOwnInfo(gnew)).MemberInfo.Span));
        Assert.Equal("Alice", Encoding.UTF8.GetString(Assert.IsType<AgentCommand.GJoin>(names.WithOwnInfo(new AgentCommand.GJoin([1]))).MemberInfo.Span));
        var send = new AgentCommand.GSend(Utf8("hi"));
        Assert.Same(send, names.WithOwnInfo(send));
        // A command that already has an info keeps it.
        var own = new AgentCommand.GJoin([1], Utf8("Al"));
        Assert.Same(own, names.WithOwnInfo(own));
    }

    [Fact]
    public void Local_names_are_saved_as_lines_and_read_back_skipping_what_does_not_fit()
    {
        var names = new MemberNames();
        names.Rename("bob", "Bobby");
        names.Rename("carol", "C");
        Assert.Equal("bob\tBobby\ncarol\tC\n", names.SaveText());

        var again = new MemberNames();
        again.Load(names.SaveText() + "no tab here\nbad alias\tX\n\tnobody\r\n");
        Assert.Equal("Bobby", again.Renamed("bob"));
        Assert.Equal("C", again.Renamed("carol"));
        Assert.Equal("bob\tBobby\ncarol\tC\n", again.SaveText());
    }

    [Fact]
    public void Name_and_rename_commands_parse_and_bad_ones_say_why()
    {
        Assert.Equal("Alice Liddell", Assert.IsType<ClientAction.SetName>(ClientCommandParser.Parse("/name Alice Liddell")).Name);
        Assert.Null(Assert.IsType<ClientAction.SetName>(ClientCommandParser.Parse("/name")).Name);
        Assert.Equal("", Assert.IsType<ClientAction.SetName>(ClientCommandParser.Parse("/name -")).Name);
        Assert.Contains("too long", Assert.IsType<ClientAction.Invalid>(ClientCommandParser.Parse("/name " + new string('a', 65))).Message);

        var rename = Assert.IsType<ClientAction.Rename>(ClientCommandParser.Parse("/rename x7Fk Bob the builder"));
        Assert.Equal(("x7Fk", "Bob the builder"), (rename.Member, rename.Name));
        Assert.Null(Assert.IsType<ClientAction.Rename>(ClientCommandParser.Parse("/rename x7Fk")).Name);
        Assert.StartsWith("usage: /rename", Assert.IsType<ClientAction.Invalid>(ClientCommandParser.Parse("/rename")).Message);
        var my = Assert.IsType<AgentCommand.GInfo>(Assert.IsType<ClientAction.Request>(ClientCommandParser.Parse("/myname team Al B")).Command);
        Assert.Equal("Al B", Encoding.UTF8.GetString(my.MemberInfo.Span));
        Assert.Equal(["* the members of team are told your name is \"Al B\""],
            Format(new MemberNames(), new("7", "team", new AgentCommand.Ok()), new PendingCommand("team", my, "/myname team")));
        Assert.StartsWith("usage: /myname", Assert.IsType<ClientAction.Invalid>(ClientCommandParser.Parse("/myname")).Message);
        Assert.Contains("not a usable member name", Assert.IsType<ClientAction.Invalid>(ClientCommandParser.Parse("/rename b@d Bob")).Message);
    }
}
