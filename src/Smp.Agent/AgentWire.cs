using System.Globalization;
using System.Text;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent;

/// <summary>Builders of what the engine writes: client payloads and plaintexts (agent.md §2, §3).</summary>
internal static class AgentWire
{
    public static readonly byte[] End = "END"u8.ToArray();
    public static readonly byte[] Ok = "OK"u8.ToArray();
    public static readonly byte[] Con = "CON"u8.ToArray();

    private static string Ts(DateTimeOffset ts) => SmpCodec.FormatTimestamp(ts);

    public static byte[] Inv(SmpQueueInfo info) => Encoding.ASCII.GetBytes("INV " + info);

    public static byte[] Sent(long id) => Encoding.ASCII.GetBytes("SENT " + id.ToString(CultureInfo.InvariantCulture));

    public static byte[] Err(string errorText) => Encoding.ASCII.GetBytes("ERR " + errorText);

    public static byte[] Down(SmpServerAddress server) => Encoding.ASCII.GetBytes("DOWN " + server);

    public static byte[] Up(SmpServerAddress server) => Encoding.ASCII.GetBytes("UP " + server);

    public static byte[] Msg(string integrity, long internalId, DateTimeOffset internalTs, byte[] brokerId, DateTimeOffset brokerTs,
        long sndId, DateTimeOffset sndTs, ReadOnlySpan<byte> body)
    {
        var head = string.Create(CultureInfo.InvariantCulture,
            $"MSG {integrity} R={internalId},{Ts(internalTs)} B={Convert.ToBase64String(brokerId)},{Ts(brokerTs)} S={sndId},{Ts(sndTs)} {body.Length}\n");
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }

    /// <summary>The plaintext of an unchained envelope (HELLO, REPLY): id 0, empty hash (agent.md §2).</summary>
    public static byte[] Unchained(AgentEnvelope envelope) =>
        AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(DateTimeOffset.UtcNow, envelope));

    public static byte[] Confirmation(byte[] senderKey) => AgentPlaintextCodec.Encode(new AgentPlaintext.Confirmation(senderKey));
}
