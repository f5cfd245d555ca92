using System.Buffers;

namespace Smp.Protocol.Agent;

/// <summary>
/// One transmission of the client protocol. Exactly one of <see cref="Command"/> and <see cref="Error"/> is
/// set; an error comes with the corrId and alias echoed when they were valid, empty otherwise.
/// </summary>
public sealed record AgentTransmission(string CorrId, string Alias, AgentCommand? Command, AgentError? Error = null)
{
    /// <summary>The command to answer with: the parsed one, or <c>ERR</c> with the error.</summary>
    public AgentCommand CommandOrError => Command ?? new AgentCommand.Err(Error!);
}

/// <summary>
/// Bounds the parser enforces before it buffers anything (agent.md §3). Both default to 64 KiB, above any body
/// that fits an envelope (3,072 bytes of plaintext with 4,096-byte blocks), so that the two body forms have the
/// same ceiling; whether a body fits an envelope is the agent's check (CMD LARGE).
/// </summary>
public sealed record AgentTransmissionLimits
{
    /// <summary>Longest command line, line end excluded; a text body counts as part of it.</summary>
    public int MaxCommandLineLength { get; init; } = 64 * 1024;

    /// <summary>Largest sized body the parser reads; larger ones are skipped unread and answered CMD LARGE.</summary>
    public int MaxBodySize { get; init; } = 64 * 1024;

    public static AgentTransmissionLimits Default { get; } = new();
}

/// <summary>
/// Writes transmissions: <c>corrId CRLF alias CRLF command CRLF</c>, a sized body inside the command part as
/// <c>size LF bytes</c> (agent.md §3).
/// </summary>
public static class AgentTransmissionCodec
{
    /// <summary>The line the agent writes (with CRLF) when a client connects; clients skip it.</summary>
    public static ReadOnlySpan<byte> WelcomeLine => "Welcome to SMP v0.3.1 agent"u8;

    /// <summary>corrId = *64(%x21-7E); empty in notifications.</summary>
    public const int MaxCorrIdLength = 64;

    public static bool IsValidCorrId(ReadOnlySpan<byte> corrId) =>
        corrId.Length <= MaxCorrIdLength && !corrId.ContainsAnyExceptInRange((byte)0x21, (byte)0x7e);

    public static bool IsValidCorrId(string corrId) =>
        corrId.Length <= MaxCorrIdLength && !corrId.AsSpan().ContainsAnyExceptInRange((char)0x21, (char)0x7e);

    public static void WriteWelcome(IBufferWriter<byte> w)
    {
        w.Write(WelcomeLine);
        w.Write("\r\n"u8);
    }

    public static void Write(IBufferWriter<byte> w, string corrId, string alias, AgentCommand command)
    {
        if (!IsValidCorrId(corrId)) throw new ArgumentException("invalid corrId", nameof(corrId));
        if (alias.Length != 0 && !AgentAlias.IsValid(alias)) throw new ArgumentException("invalid alias", nameof(alias));
        WireText.WriteAscii(w, corrId);
        w.Write("\r\n"u8);
        WireText.WriteAscii(w, alias);
        w.Write("\r\n"u8);
        AgentCommandCodec.Write(w, command);
        w.Write("\r\n"u8);
    }

    /// <summary>Writes a parsed transmission back, an error as <c>ERR</c>: how the agent answers a bad one.</summary>
    public static void Write(IBufferWriter<byte> w, AgentTransmission transmission) =>
        Write(w, transmission.CorrId, transmission.Alias, transmission.CommandOrError);

    public static byte[] ToBytes(string corrId, string alias, AgentCommand command)
    {
        var w = new ArrayBufferWriter<byte>(64);
        Write(w, corrId, alias, command);
        return w.WrittenSpan.ToArray();
    }
}
