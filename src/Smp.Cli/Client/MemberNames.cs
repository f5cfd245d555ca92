using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>
/// Who is who for the terminal client (groups.md §6.12, docs/client.md): the names members gave themselves
/// (their member info, read as UTF-8 text, heard in GMINFO and GMEM), the names this user gave members with
/// /rename (kept by this client only, by the member's alias), and this user's own name, sent as member info
/// with /group and /join. A rename wins over the member's own name; with neither, the alias is shown.
/// Pure apart from the state it holds: the client saves <see cref="SaveText"/> where it was told to.
/// </summary>
internal sealed class MemberNames
{
    /// <summary>Longest name shown or kept; a longer one is cut (member info may be a whole profile).</summary>
    public const int MaxNameLength = 64;

    private readonly Dictionary<(string Group, string Member), string> _told = [];
    private readonly Dictionary<string, string> _renamed = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>This user's display name for the groups it creates or joins; null: none is sent.</summary>
    public string? OwnName { get; set; }

    /// <summary>Takes in what a transmission from the agent says about a member's own info.</summary>
    public void Observe(AgentTransmission t)
    {
        switch (t.Command)
        {
            case AgentCommand.GMInfo i: Told(t.Alias, i.MemberAlias, i.Info.Span); break;
            case AgentCommand.GMem m when !m.Info.IsEmpty: Told(t.Alias, m.MemberAlias, m.Info.Span); break;
        }
    }

    /// <summary>A member's info, as the name it gives itself; empty info forgets it.</summary>
    public void Told(string group, string member, ReadOnlySpan<byte> info)
    {
        var name = NameFromInfo(info);
        lock (_lock)
        {
            if (name.Length == 0) _told.Remove((group, member));
            else _told[(group, member)] = name;
        }
    }

    /// <summary>The name the member gave itself in <paramref name="group"/>, if any.</summary>
    public string? ToldName(string group, string member)
    {
        lock (_lock) return _told.GetValueOrDefault((group, member));
    }

    /// <summary>The name this user gave the member, if any.</summary>
    public string? Renamed(string member)
    {
        lock (_lock) return _renamed.GetValueOrDefault(member);
    }

    /// <summary>/rename: a local name for the member (by its alias); null or empty removes it. Returns the name kept.</summary>
    public string? Rename(string member, string? name)
    {
        var clean = name is null ? "" : Clean(name);
        lock (_lock)
        {
            if (clean.Length == 0) _renamed.Remove(member);
            else _renamed[member] = clean;
        }
        return clean.Length == 0 ? null : clean;
    }

    /// <summary>How a member is named on screen: the local name, else its own name, else its alias.</summary>
    public string Display(string group, string member)
    {
        if (member.Length == 0) return "(a member not yet connected to you)";
        return Renamed(member) ?? ToldName(group, member) ?? member;
    }

    /// <summary>A /members line's name: the display name with the alias that commands take, when they differ.</summary>
    public string DisplayWithAlias(string group, string member)
    {
        var shown = Display(group, member);
        return shown == member || member.Length == 0 ? shown : $"{shown} ({member})";
    }

    /// <summary>GNEW and GJOIN carry our own name as member info unless the command has one already.</summary>
    public AgentCommand WithOwnInfo(AgentCommand command)
    {
        if (OwnName is not { Length: > 0 } own) return command;
        var info = Encoding.UTF8.GetBytes(own);
        return command switch
        {
            AgentCommand.GNew g when g.MemberInfo.IsEmpty => g with { MemberInfo = info },
            AgentCommand.GJoin j when j.MemberInfo.IsEmpty => j with { MemberInfo = info },
            _ => command,
        };
    }

    /// <summary>The local names as lines of <c>alias TAB name</c>, sorted, for the client's names file.</summary>
    public string SaveText()
    {
        lock (_lock)
            return string.Concat(_renamed.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}\t{r.Value}\n"));
    }

    /// <summary>Reads what <see cref="SaveText"/> wrote; lines that do not fit are skipped, never fatal.</summary>
    public void Load(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0 || !AgentAlias.IsValid(line[..tab])) continue;
            Rename(line[..tab], line[(tab + 1)..].TrimEnd('\r'));
        }
    }

    /// <summary>The name a member info gives: its text, made printable, on one line, cut short.</summary>
    public static string NameFromInfo(ReadOnlySpan<byte> info) => Clean(Encoding.UTF8.GetString(info));

    /// <summary>One line of printable text: control characters made visible, cut to <see cref="MaxNameLength"/>.</summary>
    private static string Clean(string text)
    {
        var clean = TextSanitizer.Clean(text.Trim());
        return clean.Length > MaxNameLength ? clean[..MaxNameLength] + "…" : clean;
    }
}
