using System.Text.Json;

namespace Smp.Protocol.Tests;

/// <summary>Test vectors captured from the reference implementation, copied into the repository.</summary>
internal static class VectorFiles
{
    public static JsonDocument Load(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Vectors", name)));
}
