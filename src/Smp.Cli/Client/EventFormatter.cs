using System.Buffers;
using System.Globalization;
using System.Text;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>
/// Turns what the agent sends into lines for a person (docs/client.md): answers to our commands (matched
/// by corrId to a <see cref="PendingCommand"/>) and notifications. Pure: no I/O, no state but the pending command's.
/// </summary>
internal static class EventFormatter
{
    /// <param name="names">Who is who: member names shown instead of aliases (none: aliases).</param>
    public static List<OutputLine> Format(AgentTransmission t, PendingCommand? pending, MemberNames? names = null)
    {
        names ??= NoNames;
        var lines = new List<OutputLine>(2);
        if (t.Command is null)
        {
            // Our parser could not read what the agent sent: say so, never guess.
            lines.Add(new(LineStyle.Warning, $"! unreadable transmission from the agent ({t.Error}); alias '{t.Alias}'"));
            return lines;
        }
        if (pending is not null) Answer(lines, t.Alias, t.Command, pending, names);
        else if (t.CorrId.Length > 0) lines.Add(new(LineStyle.Dim, $"< {t.CorrId} {Wire(t.Alias, t.Command)}"));
        else Notification(lines, t.Alias, t.Command, names);
        return lines;
    }

    /// <summary>
    /// What is shown the moment a command is sent. A direct message shows at once as pending, since SENT
    /// waits for the relay (during an outage, until it is back); a group message needs nothing here, its
    /// GSENT comes as soon as the copies are in the outbox.
    /// </summary>
    public static List<OutputLine> Sending(PendingCommand p)
    {
        var lines = new List<OutputLine>(1);
        if (p.Command is AgentCommand.Send s) MessageLines(lines, LineStyle.Sent, $"[to {p.Alias}] ", s.Body.Span, " (pending)");
        return lines;
    }

    private static void Answer(List<OutputLine> lines, string alias, AgentCommand answer, PendingCommand p, MemberNames names)
    {
        if (p.Command is null)
        {
            lines.Add(new(LineStyle.Dim, $"< {Wire(alias, answer)}"));
            return;
        }
        switch (answer)
        {
            case AgentCommand.Err e:
                lines.Add(new(LineStyle.Error, $"! {p.Label}: {Explain(e.Error)} ({e.Error})"));
                return;
            case AgentCommand.Inv inv:
                lines.Add(new(LineStyle.Success, $"* invitation for {alias}: give them this line; they type /accept <a name for you> <invitation>"));
                lines.Add(new(LineStyle.Plain, inv.QueueInfo.ToString()));
                return;
            case AgentCommand.Sent when p.Command is AgentCommand.Send s:
                // The whole message was shown when it was sent; its first words say which one this is.
                lines.Add(new(LineStyle.Sent, $"[to {alias}] {Excerpt(s.Body.Span)} (sent)"));
                return;
            case AgentCommand.GSent when p.Command is AgentCommand.GSend g:
                MessageLines(lines, LineStyle.Sent, $"[{alias}] you: ", g.Body.Span);
                return;
            case AgentCommand.GMem m:
                // One whose introduction failed was never a member here: listed, not counted.
                if (m.Status is GroupMemberStatus.Left or GroupMemberStatus.Removed) p.Departed++;
                else if (m.Status != GroupMemberStatus.Failed) p.Members++;
                // Live members plain and marked +, departed ones dimmed and marked -, so the two never blur.
                lines.Add(m.Status.IsLive()
                    ? new(LineStyle.Plain, $"  + {names.DisplayWithAlias(alias, m.MemberAlias)}  {Status(m.Status)}")
                    : new(LineStyle.Dim, $"  - {names.DisplayWithAlias(alias, m.MemberAlias)}  {Status(m.Status)}, no longer a member"));
                return;
            case AgentCommand.Ok:
                lines.Add(Ok(alias, p));
                return;
            default:
                lines.Add(new(LineStyle.Dim, $"< {Wire(alias, answer)}"));
                return;
        }
    }

    private static OutputLine Ok(string alias, PendingCommand p) => p.Command switch
    {
        AgentCommand.SubAll when alias.Length == 0 => new(LineStyle.Dim, "* subscribed (no contacts or groups yet)"),
        AgentCommand.SubAll => new(LineStyle.Dim, $"* listening to {alias}"),
        AgentCommand.Sub => new(LineStyle.Success, $"* listening to {alias} (another client of the agent gets END)"),
        AgentCommand.Off => new(LineStyle.Success, $"* {alias} can no longer send to you"),
        AgentCommand.Del => new(LineStyle.Success, $"* deleted {alias}"),
        AgentCommand.GNew => new(LineStyle.Success, $"* created group {alias}; /add {alias} <contact> invites someone"),
        AgentCommand.GAdd a => new(LineStyle.Success, $"* invited {a.MemberAlias} to {alias}"),
        AgentCommand.GJoin => new(LineStyle.Success, $"* joining group {alias}"),
        AgentCommand.GReject => new(LineStyle.Success, $"* declined the invitation from {alias}"),
        AgentCommand.GLeave => new(LineStyle.Success, $"* you left {alias}"),
        AgentCommand.GMDel d => new(LineStyle.Success, $"* removed {d.MemberAlias} from {alias}"),
        AgentCommand.GDel => new(LineStyle.Success, $"* deleted group {alias}"),
        AgentCommand.GInfo i => new(LineStyle.Success, i.MemberInfo.IsEmpty
            ? $"* the members of {alias} are told you give no name"
            : $"* the members of {alias} are told your name is \"{MemberNames.NameFromInfo(i.MemberInfo.Span)}\""),
        AgentCommand.GMembers => new(LineStyle.Info, (p.Members == 0
            ? $"* {alias} has no other members"
            : string.Create(CultureInfo.InvariantCulture, $"* {alias}: {p.Members} member{(p.Members == 1 ? "" : "s")} besides you"))
            + (p.Departed == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $" ({p.Departed} left or removed)"))),
        _ => new(LineStyle.Success, $"* {p.Label}: ok"),
    };

    private static void Notification(List<OutputLine> lines, string alias, AgentCommand e, MemberNames names)
    {
        switch (e)
        {
            case AgentCommand.Msg m:
                MessageLines(lines, LineStyle.Message, $"[{alias}] ", m.Body.Span);
                Integrity(lines, m.Integrity, $"message from {alias}");
                break;
            case AgentCommand.GMsg g:
                MessageLines(lines, LineStyle.Message, $"[{alias}] {Member(names, alias, g.MemberAlias)}: ", g.Body.Span);
                Integrity(lines, g.Integrity, $"message from {Member(names, alias, g.MemberAlias)} in {alias}");
                break;
            case AgentCommand.GFMsg f:
                MessageLines(lines, LineStyle.Message, $"[{alias}] {Member(names, alias, f.Author)} (forwarded): ", f.Body.Span);
                Integrity(lines, f.Integrity, $"message from {Member(names, alias, f.Author)} in {alias}");
                break;
            case AgentCommand.GHMsg h:
                MessageLines(lines, LineStyle.Message, $"[{alias}] {Member(names, alias, h.Author)} (earlier, {h.AuthorTs.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}): ", h.Body.Span);
                Integrity(lines, h.Integrity, $"message from {Member(names, alias, h.Author)} in {alias}");
                break;
            case AgentCommand.Con:
                lines.Add(new(LineStyle.Success, $"* connected to {alias}; @{alias} <text> sends a message"));
                break;
            case AgentCommand.End:
                lines.Add(new(LineStyle.Warning, $"! another client of the agent took over {alias}; /sub {alias} takes it back"));
                break;
            case AgentCommand.Down d:
                lines.Add(new(LineStyle.Warning, $"! the agent lost its server {d.Server}; it reconnects by itself"));
                break;
            case AgentCommand.Up u:
                lines.Add(new(LineStyle.Info, $"* the agent is back on server {u.Server}"));
                break;
            case AgentCommand.GInv i:
                var id = B64.EncodeString(i.InvitationId);
                lines.Add(new(LineStyle.Info, $"* {alias} invites you to a group: \"{Body(i.GroupInfo.Span)}\""));
                lines.Add(new(LineStyle.Info, $"  /join {id} [name for the group] accepts, /reject {alias} {id} declines"));
                break;
            case AgentCommand.GCon c:
                lines.Add(new(LineStyle.Success, $"* {Member(names, alias, c.MemberAlias)} is connected in {alias}"));
                break;
            case AgentCommand.GAll a:
                lines.Add(new(LineStyle.Success, $"* {alias}: every introduction for {Member(names, alias, a.MemberAlias)}'s join is done"));
                break;
            case AgentCommand.GLeft l:
                lines.Add(new(LineStyle.Info, $"* {Member(names, alias, l.MemberAlias)} left {alias}"));
                break;
            case AgentCommand.GMDeleted d:
                lines.Add(new(LineStyle.Info, $"* {Member(names, alias, d.MemberAlias)} is no longer in {alias} (removed)"));
                break;
            case AgentCommand.GRemoved r:
                lines.Add(new(LineStyle.Warning, $"! {Member(names, alias, r.MemberAlias)} removed you from {alias}"));
                break;
            case AgentCommand.GEmpty:
                lines.Add(new(LineStyle.Info, $"* {alias}: no other member is connected any more"));
                break;
            case AgentCommand.GDeleted d:
                lines.Add(new(LineStyle.Warning, $"! {Member(names, alias, d.MemberAlias)} deleted group {alias}"));
                break;
            case AgentCommand.GRejected r:
                lines.Add(new(LineStyle.Info, $"* {Member(names, alias, r.MemberAlias)} declined the invitation to {alias}"));
                break;
            case AgentCommand.GMem m:
                lines.Add(new(LineStyle.Plain, $"  {alias}: {names.DisplayWithAlias(alias, m.MemberAlias)}  {Status(m.Status)}"));
                break;
            case AgentCommand.GMInfo i:
                lines.Add(new(LineStyle.Info, MemberNames.NameFromInfo(i.Info.Span) is { Length: > 0 } told
                    ? names.Renamed(i.MemberAlias) is { } mine
                        ? $"* {i.MemberAlias} in {alias} calls itself \"{told}\" (you call it \"{mine}\")"
                        : $"* {i.MemberAlias} in {alias} is \"{told}\""
                    : $"* {i.MemberAlias} in {alias} gave no name"));
                break;
            case AgentCommand.GMFailed f:
                lines.Add(new(LineStyle.Warning, $"! {alias}: could not connect to {Member(names, alias, f.MemberAlias)} ({Reason(f.Reason)}); it stays unconnected"));
                break;
            case AgentCommand.Err err:
                lines.Add(new(LineStyle.Error, alias.Length == 0
                    ? $"! the agent reports: {Explain(err.Error)} ({err.Error})"
                    : $"! {alias}: {Explain(err.Error)} ({err.Error})"));
                break;
            default:
                lines.Add(new(LineStyle.Dim, $"< {Wire(alias, e)}"));
                break;
        }
    }

    /// <summary>A message with its prefix; further lines of a multi-line body are indented under the first.</summary>
    private static void MessageLines(List<OutputLine> lines, LineStyle style, string prefix, ReadOnlySpan<byte> body, string suffix = "")
    {
        var text = Body(body).Split('\n');
        text[^1] += suffix;
        lines.Add(new(style, prefix + text[0], prefix.Length));
        var indent = new string(' ', prefix.Length);
        for (var i = 1; i < text.Length; i++) lines.Add(new(style, indent + text[i]));
    }

    private const int ExcerptLength = 60;

    /// <summary>The first line of a body, cut at <see cref="ExcerptLength"/> characters; "…" when something was left out.</summary>
    private static string Excerpt(ReadOnlySpan<byte> body)
    {
        var text = Body(body);
        var end = text.IndexOf('\n', StringComparison.Ordinal);
        var first = end < 0 ? text : text[..end];
        if (first.Length > ExcerptLength) return first[..ExcerptLength] + "…";
        return end < 0 ? first : first + " …";
    }

    private static void Integrity(List<OutputLine> lines, MsgIntegrity integrity, string what)
    {
        var problem = integrity.Kind switch
        {
            MsgIntegrityKind.Ok => null,
            MsgIntegrityKind.Id => $"its id {integrity.From} is older than the last one: replayed or reordered",
            MsgIntegrityKind.Duplicate => "it repeats the previous message",
            MsgIntegrityKind.NoId when integrity.From == integrity.To => $"message {integrity.From} before it is missing",
            MsgIntegrityKind.NoId => $"messages {integrity.From} to {integrity.To} before it are missing",
            MsgIntegrityKind.Hash => "it does not follow from the previous message (hash mismatch): something was altered or lost",
            _ => "its integrity could not be checked",
        };
        if (problem is not null) lines.Add(new(LineStyle.Warning, $"! integrity warning on the {what}: {problem} ({integrity})"));
    }

    /// <summary>What an agent error means for the person who typed the command.</summary>
    public static string Explain(AgentError error) => error.Code switch
    {
        AgentErrorCode.CmdSyntax => "the agent did not understand the command",
        AgentErrorCode.CmdProhibited => "only the agent sends that",
        AgentErrorCode.CmdNoConn => "a contact or group name is needed",
        AgentErrorCode.CmdSize => "malformed body size",
        AgentErrorCode.CmdLarge => "too long",
        AgentErrorCode.ConnUnknown => "no such contact",
        AgentErrorCode.ConnDuplicate => "that name is already taken",
        AgentErrorCode.ConnSimplex => "the connection is not established yet",
        AgentErrorCode.Smp => "the server refused",
        AgentErrorCode.BrokerResponse or AgentErrorCode.BrokerUnexpected => "the server answered something unexpected",
        // Not "cannot be reached": something answered, but not the relay the address names.
        AgentErrorCode.BrokerTransport when error.Detail == "BAD_HASH" => "the server's identity did not match its address (its key has another hash)",
        AgentErrorCode.BrokerNetwork or AgentErrorCode.BrokerTransport or AgentErrorCode.BrokerTimeout => "the server cannot be reached",
        AgentErrorCode.AgentMessage => "a peer sent something unreadable",
        AgentErrorCode.AgentProhibited => "a peer sent something not allowed now",
        AgentErrorCode.AgentEncryption or AgentErrorCode.AgentSignature => "a message failed decryption or its signature check",
        AgentErrorCode.GroupUnknown => "no such group or invitation",
        AgentErrorCode.GroupDuplicate => "that group exists already, or the contact is in it already",
        AgentErrorCode.GroupNotMember => "you are no longer a member of that group",
        AgentErrorCode.GroupMemberUnknown => "no such member in that group",
        AgentErrorCode.GroupState => "that member cannot be removed now",
        AgentErrorCode.Internal => "the agent failed",
        _ => "error",
    };

    private static string Status(GroupMemberStatus status) => status switch
    {
        GroupMemberStatus.Invited => "invited",
        GroupMemberStatus.Joining => "joining",
        GroupMemberStatus.Connected => "connected",
        GroupMemberStatus.Left => "left",
        GroupMemberStatus.Removed => "removed",
        GroupMemberStatus.Failed => "never connected (its introduction failed)",
        _ => "unknown",
    };

    private static string Reason(GroupAddErrorReason reason) => reason switch
    {
        GroupAddErrorReason.Timeout => "the introduction timed out",
        GroupAddErrorReason.JoinFailed => "the connection could not be set up",
        GroupAddErrorReason.DuplicateMember => "a member id was known twice",
        GroupAddErrorReason.MemberGone => "the member left",
        _ => "the introduction failed",
    };

    private static readonly MemberNames NoNames = new();

    /// <summary>A member by its name (groups.md §6.12); one known only by its id (no direct connection yet) has an empty alias.</summary>
    private static string Member(MemberNames names, string group, string member) => names.Display(group, member);

    private static string Body(ReadOnlySpan<byte> body) => TextSanitizer.Clean(body);

    /// <summary>The protocol text of a command: alias and command line, a sized body's line break shown as \n.</summary>
    public static string Wire(string alias, AgentCommand command)
    {
        var w = new ArrayBufferWriter<byte>(64);
        AgentCommandCodec.Write(w, command);
        var text = TextSanitizer.Clean(Encoding.UTF8.GetString(w.WrittenSpan)).Replace("\\x0A", "\\n", StringComparison.Ordinal);
        return alias.Length == 0 ? text : $"{alias} {text}";
    }
}
