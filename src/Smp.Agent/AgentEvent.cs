using System.Buffers;
using Smp.Protocol.Agent;

namespace Smp.Agent;

/// <summary>One notification or response for an in-process client: what a TCP client would read as three lines.</summary>
public sealed record AgentEvent(string CorrId, string Alias, AgentCommand Command)
{
    /// <summary>A payload is what the agent itself wrote with the codec, so it always parses; ERR INTERNAL if it somehow does not.</summary>
    internal static AgentCommand ParsePayload(byte[] payload)
    {
        var bytes = new byte[payload.Length + 8];
        "\n\n"u8.CopyTo(bytes);
        payload.CopyTo(bytes, 2);
        "\r\n"u8.CopyTo(bytes.AsSpan(payload.Length + 2));
        var parser = new AgentTransmissionParser(AgentParty.Agent);
        var status = parser.TryRead(new ReadOnlySequence<byte>(bytes, 0, payload.Length + 4), out _, out _, out var t);
        return status == AgentReadStatus.Transmission && t is not null ? t.CommandOrError : new AgentCommand.Err(AgentError.Internal("unparsable event"));
    }
}
