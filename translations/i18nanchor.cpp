// The iterdeck_i18n library exists to carry the embedded translations (:/i18n).
namespace iterdeck::i18n {
int anchor()
{
    return 0;
}
} // namespace iterdeck::i18n
