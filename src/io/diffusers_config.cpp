#include "io/diffusers_config.h"

#include <cctype>

namespace ia {

std::string diffusers_model_type(const std::string& class_name) {
  std::string cls = class_name, snake;
  if (cls.size() > 5 && cls.compare(cls.size() - 5, 5, "Model") == 0) cls = cls.substr(0, cls.size() - 5);
  if (cls.rfind("UNet", 0) == 0) cls = "Unet" + cls.substr(4);  // diffusers spells UNet as one word
  auto up = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  auto low = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  auto dig = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < cls.size(); ++i) {
    const char ch = cls[i];
    const char prev = i > 0 ? cls[i - 1] : '\0', next = i + 1 < cls.size() ? cls[i + 1] : '\0';
    const bool word_start = up(ch) && i > 0 && (low(prev) || (up(prev) && low(next)));  // "KL", "D|Condition"
    if (word_start || (dig(ch) && i > 0 && !dig(prev))) snake += '_';
    snake += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return snake;
}

}  // namespace ia
