using System.Buffers;

namespace Smp.Protocol.Smp;

/// <summary>
/// SMP wire errors (smp-wire.md §4). Numeric values are frozen: they are stored and compared across
/// versions. <see cref="Quota"/> is the convention of later SMP versions for a full queue.
/// </summary>
public enum SmpErrorCode
{
    Block = 1,
    CmdSyntax = 2,
    CmdProhibited = 3,
    CmdKeySize = 4,
    CmdNoAuth = 5,
    CmdHasAuth = 6,
    CmdNoQueue = 7,
    Auth = 8,
    NoMsg = 9,
    Internal = 10,
    Quota = 11,
}

/// <summary>Thrown by parsers and handlers to answer with an SMP error; one catch in the session loop maps it.</summary>
public sealed class SmpProtocolException(SmpErrorCode code) : Exception($"SMP error {SmpErrors.ToText(code)}")
{
    public SmpErrorCode Code { get; } = code;
}

/// <summary>
/// <code>
/// error = "BLOCK" / "CMD" SP cmdError / "AUTH" / "NO_MSG" / "INTERNAL" / "QUOTA"
/// cmdError = "SYNTAX" / "PROHIBITED" / "KEY_SIZE" / "NO_AUTH" / "HAS_AUTH" / "NO_QUEUE"
/// </code>
/// </summary>
public static class SmpErrors
{
    private static readonly (SmpErrorCode Code, byte[] Text)[] Table =
    [
        (SmpErrorCode.Block, "BLOCK"u8.ToArray()),
        (SmpErrorCode.CmdSyntax, "CMD SYNTAX"u8.ToArray()),
        (SmpErrorCode.CmdProhibited, "CMD PROHIBITED"u8.ToArray()),
        (SmpErrorCode.CmdKeySize, "CMD KEY_SIZE"u8.ToArray()),
        (SmpErrorCode.CmdNoAuth, "CMD NO_AUTH"u8.ToArray()),
        (SmpErrorCode.CmdHasAuth, "CMD HAS_AUTH"u8.ToArray()),
        (SmpErrorCode.CmdNoQueue, "CMD NO_QUEUE"u8.ToArray()),
        (SmpErrorCode.Auth, "AUTH"u8.ToArray()),
        (SmpErrorCode.NoMsg, "NO_MSG"u8.ToArray()),
        (SmpErrorCode.Internal, "INTERNAL"u8.ToArray()),
        (SmpErrorCode.Quota, "QUOTA"u8.ToArray()),
    ];

    public static ReadOnlySpan<byte> ToBytes(SmpErrorCode code)
    {
        foreach (var (c, t) in Table) if (c == code) return t;
        throw new ArgumentOutOfRangeException(nameof(code));
    }

    public static string ToText(SmpErrorCode code) => System.Text.Encoding.ASCII.GetString(ToBytes(code));

    public static void Write(IBufferWriter<byte> writer, SmpErrorCode code) => writer.Write(ToBytes(code));

    /// <summary>Parses an error at the start of <paramref name="text"/>; the longest match wins.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out SmpErrorCode code, out int consumed)
    {
        code = default;
        consumed = 0;
        foreach (var (c, t) in Table)
        {
            if (text.StartsWith(t) && t.Length > consumed && (text.Length == t.Length || text[t.Length] == (byte)' '))
            {
                code = c;
                consumed = t.Length;
            }
        }
        return consumed > 0;
    }

    public static bool TryParse(string text, out SmpErrorCode code) =>
        TryParse(System.Text.Encoding.ASCII.GetBytes(text), out code, out var n) && n == text.Length;
}
