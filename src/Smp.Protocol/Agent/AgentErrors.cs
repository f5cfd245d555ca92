using System.Buffers;
using System.Globalization;
using System.Text;
using Smp.Protocol.Smp;

namespace Smp.Protocol.Agent;

/// <summary>
/// Wire text of agent errors, the part after <c>ERR SP</c> (agent.md §3, groups.md §2):
/// <code>
/// agentError = "CMD" SP ("PROHIBITED" / "SYNTAX" / "NO_CONN" / "SIZE" / "LARGE")
///            / "CONN" SP ("UNKNOWN" / "DUPLICATE" / "SIMPLEX")
///            / "SMP" SP smpError                                ; smp-wire.md §4, e.g. "CMD SYNTAX", "AUTH"
///            / "BROKER" SP ("RESPONSE" SP smpError / "UNEXPECTED" / "NETWORK" / "TRANSPORT" SP token / "TIMEOUT")
///            / "AGENT" SP ("A_MESSAGE" / "A_PROHIBITED" / "A_ENCRYPTION" / "A_SIGNATURE")
///            / "GROUP" SP ("UNKNOWN" / "DUPLICATE" / "NOT_MEMBER" / "MEMBER_UNKNOWN" / "STATE")
///            / "INTERNAL" SP quoted
/// token      = 1*32(%x41-5A / DIGIT / "_")                      ; e.g. BAD_HASH
/// quoted     = DQUOTE *(%x20-21 / %x23-5B / %x5D-7E / escape) DQUOTE
/// escape     = "\" (DQUOTE / "\" / "n" / "r" / "t" / 1*7DIGIT / "&")  ; "\&" separates a numeric escape from a digit
/// </code>
/// The quoted form is how the reference prints a string: code points outside printable ASCII are written as
/// decimal escapes, so the line stays ASCII and never holds a line end.
/// </summary>
public static class AgentErrors
{
    /// <summary>Longest INTERNAL text we read; longer ones are a syntax error (the line limit bounds them anyway).</summary>
    public const int MaxInternalTextLength = 4096;

    private const int MaxTokenLength = 32;

    private static readonly TokenTable<AgentErrorCode> Table = new(
        (AgentErrorCode.CmdProhibited, "CMD PROHIBITED"u8.ToArray()),
        (AgentErrorCode.CmdSyntax, "CMD SYNTAX"u8.ToArray()),
        (AgentErrorCode.CmdNoConn, "CMD NO_CONN"u8.ToArray()),
        (AgentErrorCode.CmdSize, "CMD SIZE"u8.ToArray()),
        (AgentErrorCode.CmdLarge, "CMD LARGE"u8.ToArray()),
        (AgentErrorCode.ConnUnknown, "CONN UNKNOWN"u8.ToArray()),
        (AgentErrorCode.ConnDuplicate, "CONN DUPLICATE"u8.ToArray()),
        (AgentErrorCode.ConnSimplex, "CONN SIMPLEX"u8.ToArray()),
        (AgentErrorCode.Smp, "SMP"u8.ToArray()),
        (AgentErrorCode.BrokerResponse, "BROKER RESPONSE"u8.ToArray()),
        (AgentErrorCode.BrokerUnexpected, "BROKER UNEXPECTED"u8.ToArray()),
        (AgentErrorCode.BrokerNetwork, "BROKER NETWORK"u8.ToArray()),
        (AgentErrorCode.BrokerTransport, "BROKER TRANSPORT"u8.ToArray()),
        (AgentErrorCode.BrokerTimeout, "BROKER TIMEOUT"u8.ToArray()),
        (AgentErrorCode.AgentMessage, "AGENT A_MESSAGE"u8.ToArray()),
        (AgentErrorCode.AgentProhibited, "AGENT A_PROHIBITED"u8.ToArray()),
        (AgentErrorCode.AgentEncryption, "AGENT A_ENCRYPTION"u8.ToArray()),
        (AgentErrorCode.AgentSignature, "AGENT A_SIGNATURE"u8.ToArray()),
        (AgentErrorCode.GroupUnknown, "GROUP UNKNOWN"u8.ToArray()),
        (AgentErrorCode.GroupDuplicate, "GROUP DUPLICATE"u8.ToArray()),
        (AgentErrorCode.GroupNotMember, "GROUP NOT_MEMBER"u8.ToArray()),
        (AgentErrorCode.GroupMemberUnknown, "GROUP MEMBER_UNKNOWN"u8.ToArray()),
        (AgentErrorCode.GroupState, "GROUP STATE"u8.ToArray()),
        (AgentErrorCode.Internal, "INTERNAL"u8.ToArray()));

    public static void Write(IBufferWriter<byte> writer, AgentError error)
    {
        writer.Write(Table.Token(error.Code));
        switch (error.Code)
        {
            case AgentErrorCode.Smp or AgentErrorCode.BrokerResponse:
                writer.Write(" "u8);
                SmpErrors.Write(writer, error.Smp!.Value);
                break;
            case AgentErrorCode.BrokerTransport:
                writer.Write(" "u8);
                WireText.WriteAscii(writer, error.Detail!);
                break;
            case AgentErrorCode.Internal:
                writer.Write(" "u8);
                WriteQuoted(writer, error.Detail!);
                break;
        }
    }

    public static byte[] ToBytes(AgentError error)
    {
        var w = new ArrayBufferWriter<byte>(32);
        Write(w, error);
        return w.WrittenSpan.ToArray();
    }

    public static string ToText(AgentError error) => Encoding.ASCII.GetString(ToBytes(error));

    /// <summary>Parses exactly one error filling all of <paramref name="text"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out AgentError? error)
    {
        error = null;
        if (!Table.TryParsePrefix(text, out var code, out var length)) return false;
        var rest = text[length..];
        switch (code)
        {
            case AgentErrorCode.Smp or AgentErrorCode.BrokerResponse:
                if (rest.Length < 2 || !SmpErrors.TryParse(rest[1..], out var smp, out var n) || n != rest.Length - 1) return false;
                error = code == AgentErrorCode.Smp ? AgentError.FromSmp(smp) : AgentError.BrokerResponse(smp);
                return true;
            case AgentErrorCode.BrokerTransport:
                if (rest.Length < 2 || !IsToken(rest[1..])) return false;
                error = AgentError.BrokerTransport(Encoding.ASCII.GetString(rest[1..]));
                return true;
            case AgentErrorCode.Internal:
                if (rest.Length < 2 || !TryParseQuoted(rest[1..], out var s)) return false;
                error = AgentError.Internal(s);
                return true;
            default:
                if (!rest.IsEmpty) return false;
                error = AgentError.Of(code);
                return true;
        }
    }

    public static bool TryParse(string text, out AgentError? error) => TryParse(Encoding.ASCII.GetBytes(text), out error);

    public static bool IsToken(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty || text.Length > MaxTokenLength) return false;
        foreach (var b in text) if (b is not ((>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'_')) return false;
        return true;
    }

    public static bool IsToken(string text) => text.Length <= MaxTokenLength && IsToken(Encoding.ASCII.GetBytes(text));

    internal static void WriteQuoted(IBufferWriter<byte> writer, string text)
    {
        var sb = new StringBuilder(text.Length + 2).Append('"');
        var pendingNumeric = false;
        foreach (var rune in text.EnumerateRunes())
        {
            var v = rune.Value;
            if (pendingNumeric && v is >= '0' and <= '9') sb.Append("\\&");
            pendingNumeric = false;
            switch (v)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case < 0x20 or >= 0x7f:
                    sb.Append('\\').Append(v.ToString(CultureInfo.InvariantCulture));
                    pendingNumeric = true;
                    break;
                default: sb.Append((char)v); break;
            }
        }
        WireText.WriteAscii(writer, sb.Append('"').ToString());
    }

    internal static bool TryParseQuoted(ReadOnlySpan<byte> text, out string value)
    {
        value = "";
        if (text.Length < 2 || text[0] != (byte)'"' || text[^1] != (byte)'"') return false;
        var body = text[1..^1];
        var sb = new StringBuilder(body.Length);
        for (var i = 0; i < body.Length; i++)
        {
            var b = body[i];
            if (b is < 0x20 or >= 0x7f or (byte)'"') return false;
            if (b != (byte)'\\')
            {
                sb.Append((char)b);
                continue;
            }
            if (++i >= body.Length) return false;
            switch (body[i])
            {
                case (byte)'"': sb.Append('"'); break;
                case (byte)'\\': sb.Append('\\'); break;
                case (byte)'n': sb.Append('\n'); break;
                case (byte)'r': sb.Append('\r'); break;
                case (byte)'t': sb.Append('\t'); break;
                case (byte)'&': break;
                case >= (byte)'0' and <= (byte)'9':
                    var start = i;
                    while (i + 1 < body.Length && body[i + 1] is >= (byte)'0' and <= (byte)'9' && i + 1 - start < 7) i++;
                    var cp = int.Parse(body[start..(i + 1)], NumberStyles.None, CultureInfo.InvariantCulture);
                    if (!Rune.IsValid(cp)) return false;
                    sb.Append(new Rune(cp).ToString());
                    break;
                default: return false;
            }
            if (sb.Length > MaxInternalTextLength) return false;
        }
        value = sb.ToString();
        return true;
    }
}
