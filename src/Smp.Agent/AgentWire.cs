using System.Buffers;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

/// <summary>
/// What the engine writes: client payloads (a command line with its body, as the client protocol codec
/// writes it, agent.md §3) and envelope plaintexts (agent.md §2). Payloads are stored as these bytes, so a
/// stored event is sent exactly as it would have been live.
/// </summary>
internal static class AgentWire
{
    public static byte[] Payload(AgentCommand command)
    {
        var w = new ArrayBufferWriter<byte>(64);
        AgentCommandCodec.Write(w, command);
        return w.WrittenSpan.ToArray();
    }

    public static readonly byte[] End = Payload(new AgentCommand.End());
    public static readonly byte[] Ok = Payload(new AgentCommand.Ok());
    public static readonly byte[] Con = Payload(new AgentCommand.Con());

    public static byte[] Sent(long id) => Payload(new AgentCommand.Sent(id));

    public static byte[] Err(AgentError error) => Payload(new AgentCommand.Err(error));

    public static byte[] Err(AgentErrorCode code) => Err(AgentError.Of(code));

    public static byte[] Down(SmpServerAddress server) => Payload(new AgentCommand.Down(server));

    public static byte[] Up(SmpServerAddress server) => Payload(new AgentCommand.Up(server));

    /// <summary>The plaintext of an unchained envelope (HELLO, REPLY): id 0, empty hash (agent.md §2).</summary>
    public static byte[] Unchained(AgentEnvelope envelope) =>
        AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(DateTimeOffset.UtcNow, envelope));

    public static byte[] Confirmation(byte[] senderKey) => AgentPlaintextCodec.Encode(new AgentPlaintext.Confirmation(senderKey));
}
