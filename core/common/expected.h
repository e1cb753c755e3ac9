#pragma once

#include <utility>
#include <variant>

namespace iterdeck {

// A value or an error, in the spirit of C++23 std::expected (not available in GCC 12).
// Core code returns these instead of throwing.
template<typename E> struct Unexpected
{
    E error;
};

template<typename E> Unexpected<std::decay_t<E>> unexpected(E &&e)
{
    return {std::forward<E>(e)};
}

template<typename T, typename E> class Expected
{
public:
    Expected(T value)
        : m_v(std::in_place_index<0>, std::move(value))
    { }
    template<typename G>
    Expected(Unexpected<G> e)
        : m_v(std::in_place_index<1>, E(std::move(e.error)))
    { }

    bool hasValue() const { return m_v.index() == 0; }
    explicit operator bool() const { return hasValue(); }

    T &value() & { return std::get<0>(m_v); }
    const T &value() const & { return std::get<0>(m_v); }
    T &&value() && { return std::get<0>(std::move(m_v)); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }

    E &error() & { return std::get<1>(m_v); }
    const E &error() const & { return std::get<1>(m_v); }

private:
    std::variant<T, E> m_v;
};

} // namespace iterdeck
