using System.Text;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>
/// Turns one typed line into a <see cref="ClientAction"/> (docs/client.md). Pure: no I/O, never throws;
/// anything it cannot use becomes <see cref="ClientAction.Invalid"/> with a message for a person.
/// </summary>
internal static class ClientCommandParser
{
    /// <summary>Longer lines are refused here rather than sent: the agent would refuse them anyway (agent.md §2.7).</summary>
    public const int MaxLineLength = 16 * 1024;

    public static ClientAction Parse(string? line)
    {
        if (line is null) return new ClientAction.Quit();
        if (line.Length > MaxLineLength) return Invalid($"that line is too long ({line.Length} characters; at most {MaxLineLength})");
        var text = line.Trim();
        if (text.Length == 0) return new ClientAction.Nothing();
        return text[0] switch
        {
            '/' => Slash(text),
            '@' => Send(text[1..], "@"),
            '#' => GroupSend(text[1..], "#"),
            '!' => Raw(text[1..]),
            _ => Invalid("to send a message type @name text (contact) or #group text (group); /help lists the commands"),
        };
    }

    private static ClientAction Slash(string text)
    {
        var (word, rest) = Split(text[1..]);
        var args = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        switch (word.ToLowerInvariant())
        {
            case "help" or "h" or "?":
                return new ClientAction.Help();
            case "quit" or "exit" or "q":
                return new ClientAction.Quit();
            case "invite" or "new":
                if (args.Length > 1) return Usage("/invite [name]");
                return WithAlias(args.Length == 0 ? "" : args[0], "contact", a => Request(a, new AgentCommand.New(), $"/invite {a}".TrimEnd()));
            case "accept" or "connect":
                return Accept(args);
            case "send" or "msg":
                return Send(rest, "/send ");
            case "group" or "gnew":
                return Group(rest);
            case "add" or "gadd":
                if (args.Length != 2) return Usage("/add <group> <contact>");
                return WithAlias(args[0], "group", g => WithAlias(args[1], "contact", m =>
                    Request(g, new AgentCommand.GAdd(m), $"/add {g} {m}")));
            case "join" or "gjoin":
                if (args.Length is < 1 or > 2) return Usage("/join <invitation-id> [group]");
                return WithInvitationId(args[0], id => WithAlias(args.Length == 2 ? args[1] : "", "group", g =>
                    Request(g, new AgentCommand.GJoin(id), $"/join {args[0]} {g}".TrimEnd())));
            case "reject" or "greject":
                if (args.Length != 2) return Usage("/reject <contact> <invitation-id>");
                return WithAlias(args[0], "contact", c => WithInvitationId(args[1], id =>
                    Request(c, new AgentCommand.GReject(id), $"/reject {c}")));
            case "gsend":
                return GroupSend(rest, "/gsend ");
            case "members" or "gmembers":
                return OneAlias(args, "/members <group>", "group", g => new AgentCommand.GMembers());
            case "leave" or "gleave":
                return OneAlias(args, "/leave <group>", "group", g => new AgentCommand.GLeave());
            case "remove" or "gmdel":
                if (args.Length != 2) return Usage("/remove <group> <contact>");
                return WithAlias(args[0], "group", g => WithAlias(args[1], "contact", m =>
                    Request(g, new AgentCommand.GMDel(m), $"/remove {g} {m}")));
            case "delgroup" or "gdel":
                return OneAlias(args, "/delgroup <group>", "group", g => new AgentCommand.GDel());
            case "off":
                return OneAlias(args, "/off <contact>", "contact", c => new AgentCommand.Off());
            case "delete" or "del":
                return OneAlias(args, "/delete <contact>", "contact", c => new AgentCommand.Del());
            case "sub":
                return OneAlias(args, "/sub <contact-or-group>", "contact or group", c => new AgentCommand.Sub());
            case "suball":
                if (args.Length != 0) return Usage("/suball");
                return Request("", new AgentCommand.SubAll(), "/suball");
            case "name":
                return Name(rest);
            case "myname":
                return MyName(rest);
            case "rename":
                return Rename(rest);
            case "wire":
                if (args.Length == 1 && args[0].Equals("on", StringComparison.OrdinalIgnoreCase)) return new ClientAction.Wire(true);
                if (args.Length == 1 && args[0].Equals("off", StringComparison.OrdinalIgnoreCase)) return new ClientAction.Wire(false);
                return Usage("/wire on|off");
            default:
                return Invalid($"unknown command /{Printable(word)}; /help lists the commands");
        }
    }

    /// <summary><c>/accept name invitation</c>, or <c>/accept invitation</c> to let the agent choose the name.</summary>
    private static ClientAction Accept(string[] args)
    {
        if (args.Length is < 1 or > 2) return Usage("/accept <name> <invitation>");
        var invitation = args[^1];
        if (!SmpQueueInfo.TryParse(invitation, out var queue))
            return Invalid("that is not an invitation: it looks like smp::host:port#key::id::rsa:key, as /invite prints it");
        return WithAlias(args.Length == 2 ? args[0] : "", "contact", a => Request(a, new AgentCommand.Join(queue!), $"/accept {a}".TrimEnd()));
    }

    private static ClientAction Send(string rest, string how)
    {
        var (name, message) = Split(rest);
        if (name.Length == 0 || message.Length == 0) return Usage(how == "@" ? "@<contact> <text>" : "/send <contact> <text>");
        return WithAlias(name, "contact", a => Request(a, new AgentCommand.Send(Encoding.UTF8.GetBytes(message)), $"message to {a}"));
    }

    private static ClientAction GroupSend(string rest, string how)
    {
        var (name, message) = Split(rest);
        if (name.Length == 0 || message.Length == 0) return Usage(how == "#" ? "#<group> <text>" : "/gsend <group> <text>");
        return WithAlias(name, "group", g => Request(g, new AgentCommand.GSend(Encoding.UTF8.GetBytes(message)), $"message to {g}"));
    }

    /// <summary><c>/group name [info]</c>: the info is what invitees are shown; it defaults to the name.</summary>
    private static ClientAction Group(string rest)
    {
        var (name, info) = Split(rest);
        if (name.Length == 0) return Usage("/group <name> [description shown to invitees]");
        return WithAlias(name, "group", g => Request(g, new AgentCommand.GNew(Encoding.UTF8.GetBytes(info.Length == 0 ? g : info)), $"/group {g}"));
    }

    /// <summary>
    /// <c>/name [display name]</c>: shown to the members of groups created or joined afterwards (their member
    /// info); <c>/name -</c> stops sending one; <c>/name</c> alone shows it.
    /// </summary>
    private static ClientAction Name(string rest)
    {
        if (rest.Length == 0) return new ClientAction.SetName(null);
        if (rest == "-") return new ClientAction.SetName("");
        if (rest.Length > MemberNames.MaxNameLength || Encoding.UTF8.GetByteCount(rest) > Smp.Agent.SmpAgent.MaxMemberInfoSize)
            return Invalid($"that name is too long (at most {MemberNames.MaxNameLength} characters)");
        if (rest.Any(char.IsControl)) return Invalid("a name cannot contain control characters");
        return new ClientAction.SetName(rest);
    }

    /// <summary><c>/myname group [name]</c>: our name in a group we are in already (GINFO); no name: none from now on.</summary>
    private static ClientAction MyName(string rest)
    {
        var (group, name) = Split(rest);
        if (group.Length == 0) return Usage("/myname <group> [name]");
        if (name.Length > MemberNames.MaxNameLength) return Invalid($"that name is too long (at most {MemberNames.MaxNameLength} characters)");
        if (name.Any(char.IsControl)) return Invalid("a name cannot contain control characters");
        return WithAlias(group, "group", g => Request(g, new AgentCommand.GInfo(Encoding.UTF8.GetBytes(name)), $"/myname {g}"));
    }

    /// <summary><c>/rename member [name]</c>: the member by the alias /members shows; without a name the local one goes.</summary>
    private static ClientAction Rename(string rest)
    {
        var (member, name) = Split(rest);
        if (member.Length == 0) return Usage("/rename <member> [name]  (the member as /members shows it in brackets)");
        if (name.Length > MemberNames.MaxNameLength) return Invalid($"that name is too long (at most {MemberNames.MaxNameLength} characters)");
        if (name.Any(char.IsControl)) return Invalid("a name cannot contain control characters");
        return WithAlias(member, "member", m => new ClientAction.Rename(m, name.Length == 0 ? null : name));
    }

    /// <summary>
    /// <c>!alias COMMAND…</c> (or <c>! COMMAND…</c> for an empty alias): one transmission as typed. Only the
    /// <c>:text</c> body form fits on one line; a sized body would leave the agent waiting for bytes.
    /// </summary>
    private static ClientAction Raw(string rest)
    {
        string alias, command;
        if (rest.StartsWith(' '))
        {
            alias = "";
            command = rest.Trim();
        }
        else
        {
            (alias, command) = Split(rest);
        }
        if (command.Length == 0) return Usage("!<alias> <COMMAND> (or '! COMMAND' for an empty alias), e.g. !bob SEND :hello");
        try
        {
            AgentCommandCodec.ParseLine(Encoding.UTF8.GetBytes(command), out var bodySize);
            if (bodySize is not null) return Invalid("raw lines take a ':text' body only (e.g. SEND :hello), not a sized one");
        }
        catch (AgentProtocolException)
        {
            // Sent anyway: showing how the agent answers a malformed command is what raw mode is for.
        }
        return new ClientAction.Raw(alias, command);
    }

    private static ClientAction OneAlias(string[] args, string usage, string what, Func<string, AgentCommand> command)
    {
        if (args.Length != 1) return Usage(usage);
        return WithAlias(args[0], what, a => Request(a, command(a), $"{usage.Split(' ')[0]} {a}"));
    }

    private static ClientAction WithAlias(string alias, string what, Func<string, ClientAction> then)
    {
        if (alias.Length == 0 || AgentAlias.IsValid(alias)) return then(alias);
        return Invalid($"'{Printable(alias)}' is not a usable {what} name: use 1 to {AgentAlias.MaxLength} letters, digits or _ - . = + /");
    }

    private static ClientAction WithInvitationId(string text, Func<byte[], ClientAction> then)
    {
        if (text.Length <= 88 && B64.TryDecode(text, out var id) && id.Length > 0) return then(id);
        return Invalid($"'{Printable(text)}' is not an invitation id: copy the id shown with the group invitation");
    }

    private static ClientAction.Request Request(string alias, AgentCommand command, string label) => new(alias, command, label);

    private static ClientAction.Invalid Usage(string usage) => new($"usage: {usage}");

    private static ClientAction.Invalid Invalid(string message) => new(message);

    /// <summary>First word and the rest, both trimmed.</summary>
    private static (string Word, string Tail) Split(string text)
    {
        text = text.TrimStart();
        var space = text.IndexOfAny([' ', '\t']);
        return space < 0 ? (text, "") : (text[..space], text[(space + 1)..].Trim());
    }

    /// <summary>User text echoed in an error: shortened, control characters made visible.</summary>
    private static string Printable(string text) => TextSanitizer.Clean(text.Length > 40 ? text[..40] + "…" : text);
}
